//! The BagIt packaging format (RFC 8493): its tag files as bytes, read and written.
//!
//! Pure text rules only: [`parse_manifest`] and [`manifest_bytes`] for (tag) manifests,
//! with the RFC's percent-encoding of `%`, CR and LF in file paths; [`check_declaration`]
//! for `bagit.txt`; [`algorithm`] for the checksum algorithms a manifest's name can carry.
//! Reading a bag from a directory (`ocfl_plan::bag`) and writing one
//! ([`Object::export_bag`](crate::object::Object::export_bag)) are done by the callers.
//!
//! ```
//! use ocfl_core::bagit::{manifest_bytes, parse_manifest};
//!
//! let bytes = manifest_bytes([("data/a%b.txt", "0cc175b9c0f1b6a831c399e269772661")]);
//! assert_eq!(bytes, b"0cc175b9c0f1b6a831c399e269772661  data/a%25b.txt\n");
//! let entries = parse_manifest("manifest-md5.txt", &bytes).unwrap();
//! assert_eq!(entries[0].0, "data/a%b.txt");
//! ```

use std::borrow::Cow;

use crate::digest::{Digest, DigestAlgorithm};

/// The bag declaration's file name.
pub const DECLARATION_FILE: &str = "bagit.txt";
/// The declaration this crate writes: BagIt 1.0, tag files in UTF-8.
pub const DECLARATION: &[u8] = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
/// The payload directory, relative to the bag's base directory.
pub const PAYLOAD_DIR: &str = "data";
/// The optional metadata tag file.
pub const BAG_INFO_FILE: &str = "bag-info.txt";
/// The fetch file, listing payload files to download: a bag with entries in it is not
/// complete here.
pub const FETCH_FILE: &str = "fetch.txt";

/// Why a tag file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BagError {
    /// `bagit.txt` is missing a required line, or declares what this crate does not read.
    #[error("{DECLARATION_FILE}: {0}")]
    Declaration(String),
    /// A manifest line is malformed.
    #[error("{file} line {line}: {reason}")]
    Manifest {
        /// The manifest's file name.
        file: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A manifest names a checksum algorithm this crate cannot compute.
    #[error(
        "{0}: its checksum algorithm is not one this tool can check (md5, sha1, sha256, sha512)"
    )]
    UnsupportedAlgorithm(String),
}

/// `manifest-ALG.txt`, the payload manifest of `algorithm`.
pub fn manifest_name(algorithm: DigestAlgorithm) -> String {
    format!("manifest-{}.txt", algorithm.name())
}

/// `tagmanifest-ALG.txt`, the tag manifest of `algorithm`.
pub fn tag_manifest_name(algorithm: DigestAlgorithm) -> String {
    format!("tagmanifest-{}.txt", algorithm.name())
}

/// What the file name `name` is in a bag's base directory: `Some((true, alg))` for a tag
/// manifest, `Some((false, alg))` for a payload manifest, `None` for anything else; an
/// algorithm this crate cannot compute is an error.
pub fn manifest_kind(name: &str) -> Option<Result<(bool, DigestAlgorithm), BagError>> {
    let (tag, rest) = if let Some(rest) = name.strip_prefix("tagmanifest-") {
        (true, rest)
    } else {
        (false, name.strip_prefix("manifest-")?)
    };
    let label = rest.strip_suffix(".txt")?;
    Some(
        algorithm(label)
            .map(|a| (tag, a))
            .ok_or_else(|| BagError::UnsupportedAlgorithm(name.to_owned())),
    )
}

/// The algorithm of a manifest's label (`sha512` in `manifest-sha512.txt`): the four the
/// RFC names (md5, sha1, sha256, sha512), in lower case as it requires.
pub fn algorithm(label: &str) -> Option<DigestAlgorithm> {
    match label {
        "md5" => Some(DigestAlgorithm::Md5),
        "sha1" => Some(DigestAlgorithm::Sha1),
        "sha256" => Some(DigestAlgorithm::Sha256),
        "sha512" => Some(DigestAlgorithm::Sha512),
        _ => None,
    }
}

/// Checks `bagit.txt`: a `BagIt-Version` of 0.97 or 1.x and UTF-8 tag files (the only
/// encoding this crate reads).
pub fn check_declaration(bytes: &[u8]) -> Result<(), BagError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| BagError::Declaration("is not UTF-8".to_owned()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut version = None;
    let mut encoding = None;
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(':') {
            match key.trim() {
                "BagIt-Version" => version = Some(value.trim().to_owned()),
                "Tag-File-Character-Encoding" => encoding = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let version =
        version.ok_or_else(|| BagError::Declaration("has no BagIt-Version".to_owned()))?;
    if version != "0.97" && !version.starts_with("1.") {
        return Err(BagError::Declaration(format!(
            "BagIt-Version {version} is not one this tool reads (0.97 or 1.x)"
        )));
    }
    match encoding {
        Some(e) if e.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(e) => Err(BagError::Declaration(format!(
            "Tag-File-Character-Encoding {e} is not UTF-8"
        ))),
        None => Err(BagError::Declaration(
            "has no Tag-File-Character-Encoding".to_owned(),
        )),
    }
}

/// The entries of the manifest `file` (its name, for messages): (path relative to the bag's
/// base directory, decoded; checksum), in file order. Blank lines are skipped; a path listed
/// twice, a malformed checksum or an encoding the RFC does not allow is an error.
pub fn parse_manifest(file: &str, bytes: &[u8]) -> Result<Vec<(String, Digest)>, BagError> {
    let error = |line: usize, reason: String| BagError::Manifest {
        file: file.to_owned(),
        line,
        reason,
    };
    let algorithm = match manifest_kind(file) {
        Some(kind) => Some(kind?.1),
        None => None,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| error(0, "is not UTF-8".to_owned()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<(String, Digest)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((checksum, path)) = line.split_once([' ', '\t']) else {
            return Err(error(number, "is not `CHECKSUM PATH`".to_owned()));
        };
        let path = path.trim_start_matches([' ', '\t']);
        if path.is_empty() {
            return Err(error(number, "has no file path".to_owned()));
        }
        if let Some(algorithm) = algorithm
            && !algorithm.is_well_formed(checksum)
        {
            return Err(error(
                number,
                format!("{checksum:?} is not a {} checksum", algorithm.name()),
            ));
        }
        let path = decode_path(path).map_err(|reason| error(number, reason))?;
        if !seen.insert(path.clone()) {
            return Err(error(number, format!("{path:?} is listed twice")));
        }
        entries.push((path, Digest::new(checksum)));
    }
    Ok(entries)
}

/// A manifest's bytes: one `CHECKSUM  PATH` line per entry, in the order given, paths
/// percent-encoded as the RFC requires.
pub fn manifest_bytes<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, checksum) in entries {
        out.extend_from_slice(checksum.as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(encode_path(path).as_bytes());
        out.push(b'\n');
    }
    out
}

/// A file path as a manifest writes it: `%`, CR and LF percent-encoded (RFC 8493 2.1.3).
pub fn encode_path(path: &str) -> Cow<'_, str> {
    if !path.contains(['%', '\r', '\n']) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The inverse of [`encode_path`]; any other `%` sequence is left as it is, as the RFC's
/// encoding never produces one, and a path with `/` at either end, or an empty, `.` or `..`
/// element, is refused: it could name something outside the bag.
pub fn decode_path(path: &str) -> Result<String, String> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at..at + 3).unwrap_or("");
        let decoded = match code.to_ascii_uppercase().as_str() {
            "%25" => Some('%'),
            "%0D" => Some('\r'),
            "%0A" => Some('\n'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    if out
        .split('/')
        .any(|element| element.is_empty() || element == "." || element == "..")
    {
        return Err(format!(
            "file path {out:?} is not a relative path inside the bag"
        ));
    }
    Ok(out)
}

/// The `Payload-Oxum` value of a payload: `OCTETS.FILES`.
pub fn payload_oxum(bytes: u64, files: u64) -> String {
    format!("{bytes}.{files}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_the_rfc_encoding() {
        for path in [
            "data/a.txt",
            "data/100%.txt",
            "data/line\nbreak\r.txt",
            "data/%0A",
        ] {
            let encoded = encode_path(path);
            assert!(!encoded.contains(['\n', '\r']), "{encoded}");
            assert_eq!(decode_path(&encoded).expect("decodes"), path);
        }
    }

    #[test]
    fn manifests_parse_with_any_whitespace_and_refuse_bad_lines() {
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        let text = format!("{sha1}\tdata/a b.txt\r\n\n{sha1} data/c.txt\n");
        let entries = parse_manifest("manifest-sha1.txt", text.as_bytes()).expect("parses");
        let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["data/a b.txt", "data/c.txt"]);
        let bad = [
            format!("{sha1}\n"),
            "nothex data/a.txt\n".to_owned(),
            format!("{sha1} data/../x\n"),
            format!("{sha1} data/a\n{sha1} data/a\n"),
        ];
        for text in bad {
            assert!(
                parse_manifest("manifest-sha1.txt", text.as_bytes()).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn manifest_names_give_their_algorithm() {
        assert!(matches!(
            manifest_kind("manifest-sha256.txt"),
            Some(Ok((false, DigestAlgorithm::Sha256)))
        ));
        assert!(matches!(
            manifest_kind("tagmanifest-md5.txt"),
            Some(Ok((true, DigestAlgorithm::Md5)))
        ));
        assert!(matches!(
            manifest_kind("manifest-sha3.txt"),
            Some(Err(BagError::UnsupportedAlgorithm(_)))
        ));
        assert!(manifest_kind("bag-info.txt").is_none());
    }

    #[test]
    fn declarations_need_a_version_and_utf8() {
        assert!(check_declaration(DECLARATION).is_ok());
        assert!(
            check_declaration(b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n").is_ok()
        );
        assert!(check_declaration(b"Tag-File-Character-Encoding: UTF-8\n").is_err());
        assert!(
            check_declaration(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n")
                .is_err()
        );
    }
}
