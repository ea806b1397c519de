//! Extension 0012, hashed truncated n-tuple trees with non-prefixed object id
//! encapsulating directory: extension 0003 applied to the id without its prefix.

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::config_file::digest_name;
use super::digest_tuples;
use super::hash_and_id::map_hashed_id;
use super::mapped_path::check_id;
use crate::digest::DigestAlgorithm;

/// The configuration of extension 0012 (keys as in its `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HashAndNoPrefixIdNTuple {
    /// The algorithm hashing the id without prefix (default `sha256`).
    #[serde(with = "digest_name")]
    pub digest_algorithm: DigestAlgorithm,
    /// Characters per tuple, 0 to 32 (default 3).
    pub tuple_size: usize,
    /// Number of tuples, 0 to 32 (default 3).
    pub number_of_tuples: usize,
    /// Case-sensitive delimiters ending the prefix; none by default, which makes this
    /// layout the same as 0003.
    pub delimiters: Vec<String>,
}

impl Default for HashAndNoPrefixIdNTuple {
    fn default() -> HashAndNoPrefixIdNTuple {
        HashAndNoPrefixIdNTuple {
            digest_algorithm: DigestAlgorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
            delimiters: Vec::new(),
        }
    }
}

impl HashAndNoPrefixIdNTuple {
    /// The registered extension name.
    pub const NAME: &'static str = "0012-hash-and-no-prefix-id-n-tuple-storage-layout";

    /// Checks the parameters against the extension's constraints.
    pub fn validate(&self) -> Result<(), LayoutError> {
        digest_tuples::check(
            Self::NAME,
            self.digest_algorithm,
            self.tuple_size,
            self.number_of_tuples,
        )?;
        if self.delimiters.iter().any(String::is_empty) {
            return Err(LayoutError::InvalidConfig {
                extension: Self::NAME.to_owned(),
                reason: "delimiters must not contain an empty string".to_owned(),
            });
        }
        Ok(())
    }

    /// The object root path of `id`.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        self.validate()?;
        check_id(Self::NAME, id)?;
        let unprefixed = strip_prefix(id, &self.delimiters);
        map_hashed_id(
            Self::NAME,
            id,
            unprefixed,
            self.digest_algorithm,
            self.tuple_size,
            self.number_of_tuples,
        )
    }
}

/// `id` after the right-most end of any delimiter. An occurrence that reaches the id's
/// last character is ignored (the doc's procedure and its `rfind(d, 0, len - 1)`), so the
/// result is never empty.
fn strip_prefix<'a>(id: &'a str, delimiters: &[String]) -> &'a str {
    let Some(last) = id.chars().next_back() else {
        return id;
    };
    let searched = &id[..id.len() - last.len_utf8()];
    let prefix_end = delimiters
        .iter()
        .filter(|d| !d.is_empty())
        .filter_map(|d| searched.rfind(d.as_str()).map(|start| start + d.len()))
        .max();
    match prefix_end.and_then(|end| id.get(end..)) {
        Some(rest) => rest,
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_prefix;

    fn strip<'a>(id: &'a str, delimiters: &[&str]) -> &'a str {
        let owned: Vec<String> = delimiters.iter().map(|d| (*d).to_owned()).collect();
        strip_prefix(id, &owned)
    }

    /// The cases the extension's own Python `run_tests` asserts for `_remove_prefixes`.
    #[test]
    fn documented_prefix_removal() {
        assert_eq!(strip("ab/cd", &["/"]), "cd");
        assert_eq!(strip("ab/cd", &[]), "ab/cd");
        assert_eq!(strip("ab/cd:ef", &["/", ":"]), "ef");
        assert_eq!(strip("ab/cd:", &["/", ":"]), "cd:");
        assert_eq!(strip("abcd", &["d"]), "abcd");
        assert_eq!(strip("abcd", &["c", "d"]), "d");
        assert_eq!(strip("abcdd", &["c", "d"]), "d");
        assert_eq!(strip("abcde", &["abc"]), "de");
        assert_eq!(strip("abcde", &["bcd"]), "e");
        assert_eq!(strip("abcde", &["cde"]), "abcde");
        assert_eq!(strip("é:è", &[":"]), "è");
        assert_eq!(strip("x:é", &["é"]), "x:é");
    }
}
