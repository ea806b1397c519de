//! Extension 0007, n-tuple omit prefix storage layout: tuples cut from the id without its
//! prefix (zero-padded, optionally reversed), then that id as the object root.

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::digest_tuples::{MAX_TUPLE_PARAMETER, split};
use super::mapped_path::{check_id, finish, unmappable};
use super::omit_prefix::prefix_end;

/// Which side of a short id gets the `0` padding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroPadding {
    /// Pad on the left (the default).
    #[default]
    Left,
    /// Pad on the right.
    Right,
}

/// The configuration of extension 0007 (keys as in its `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NTupleOmitPrefix {
    /// The case-insensitive delimiter ending the prefix (default `:`).
    pub delimiter: String,
    /// Characters per tuple, 1 to 32 (default 3).
    pub tuple_size: usize,
    /// Number of tuples, 1 to 32 (default 3).
    pub number_of_tuples: usize,
    /// Where ids shorter than `tupleSize * numberOfTuples` are padded (default left).
    pub zero_padding: ZeroPadding,
    /// Reverse the padded id before cutting tuples (default false).
    pub reverse_object_root: bool,
}

impl Default for NTupleOmitPrefix {
    fn default() -> NTupleOmitPrefix {
        NTupleOmitPrefix {
            delimiter: ":".to_owned(),
            tuple_size: 3,
            number_of_tuples: 3,
            zero_padding: ZeroPadding::Left,
            reverse_object_root: false,
        }
    }
}

/// The extension is "defined over the ASCII subset of UTF-8 (code points 0x20 to 0x7F)";
/// 0x7F (DEL) is a control character, which no object id may hold.
fn is_allowed(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl NTupleOmitPrefix {
    /// The registered extension name.
    pub const NAME: &'static str = "0007-n-tuple-omit-prefix-storage-layout";

    /// Checks the parameters against the extension's constraints.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let invalid = |reason: String| LayoutError::InvalidConfig {
            extension: Self::NAME.to_owned(),
            reason,
        };
        if self.delimiter.is_empty() {
            return Err(invalid("delimiter must not be empty".to_owned()));
        }
        if !is_allowed(&self.delimiter) {
            return Err(invalid(format!(
                "delimiter {:?} is outside printable ASCII, the only characters the extension allows",
                self.delimiter
            )));
        }
        for (key, value) in [
            ("tupleSize", self.tuple_size),
            ("numberOfTuples", self.number_of_tuples),
        ] {
            if !(1..=MAX_TUPLE_PARAMETER).contains(&value) {
                return Err(invalid(format!(
                    "{key} ({value}) must be between 1 and {MAX_TUPLE_PARAMETER}"
                )));
            }
        }
        Ok(())
    }

    /// The object root path of `id`. An id without the delimiter is used whole, as the
    /// extension says; one ending with the delimiter, one outside printable ASCII, or one
    /// whose rest is not a valid directory name is refused.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        self.validate()?;
        check_id(Self::NAME, id)?;
        if !is_allowed(id) {
            return Err(unmappable(
                Self::NAME,
                id,
                "the extension allows only printable ASCII characters",
            ));
        }
        let rest = match prefix_end(id, &self.delimiter) {
            None => id,
            Some(end) => match id.get(end..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => {
                    return Err(unmappable(
                        Self::NAME,
                        id,
                        format!("nothing follows the delimiter {:?}", self.delimiter),
                    ));
                }
            },
        };
        let wanted = self.tuple_size * self.number_of_tuples;
        let padding = "0".repeat(wanted.saturating_sub(rest.len()));
        let mut padded = match self.zero_padding {
            ZeroPadding::Left => format!("{padding}{rest}"),
            ZeroPadding::Right => format!("{rest}{padding}"),
        };
        if self.reverse_object_root {
            // ASCII only (checked above), so reversing characters reverses bytes.
            padded = padded.chars().rev().collect();
        }
        let (tuples, _) = split(&padded, self.tuple_size, self.number_of_tuples);
        finish(Self::NAME, id, tuples.into_iter().chain([rest]))
    }
}
