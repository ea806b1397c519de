//! Version numbers and version directory names: `v1, v2, ...` or zero-padded
//! `v001, v002, ...` (padded names start with `v0` and keep one width).

use std::fmt;

/// Why a name is not a version directory name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionNumError {
    /// Not `v` followed by ASCII digits.
    #[error("{0:?} is not a version directory name (v followed by digits)")]
    Malformed(String),
    /// `v0`, `v00`...: version numbers start at 1.
    #[error("{0:?} is version zero; versions start at 1")]
    Zero(String),
    /// Too large for this implementation (more than 2^32 - 1 versions).
    #[error("{0:?} is out of range")]
    OutOfRange(String),
    /// The next version does not fit in the zero-padded width.
    #[error("no version follows {0} in its zero-padded width")]
    Exhausted(String),
}

/// A version number with the naming convention of its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionNum {
    number: u32,
    /// Total digit count when zero-padded (`v003` has width 3); `None` when not padded.
    padding: Option<u8>,
}

impl VersionNum {
    /// Version 1 without padding.
    pub const V1: VersionNum = VersionNum {
        number: 1,
        padding: None,
    };

    /// Version `number` (at least 1) without padding.
    pub fn new(number: u32) -> Option<VersionNum> {
        (number >= 1).then_some(VersionNum {
            number,
            padding: None,
        })
    }

    /// Parses `v1` or a zero-padded `v0001`.
    pub fn parse(name: &str) -> Result<VersionNum, VersionNumError> {
        let digits = name
            .strip_prefix('v')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| VersionNumError::Malformed(name.to_owned()))?;
        let number: u32 = digits
            .parse()
            .map_err(|_| VersionNumError::OutOfRange(name.to_owned()))?;
        if number == 0 {
            return Err(VersionNumError::Zero(name.to_owned()));
        }
        let padding = if digits.starts_with('0') {
            Some(
                u8::try_from(digits.len())
                    .map_err(|_| VersionNumError::OutOfRange(name.to_owned()))?,
            )
        } else {
            None
        };
        Ok(VersionNum { number, padding })
    }

    /// The version number.
    pub fn number(self) -> u32 {
        self.number
    }

    /// The zero-padded width (digit count), if padded.
    pub fn padding(self) -> Option<u8> {
        self.padding
    }

    /// Whether `other` uses the same naming convention (both unpadded, or padded to the
    /// same width): E012.
    pub fn same_convention(self, other: VersionNum) -> bool {
        self.padding == other.padding
    }

    /// The version `number` in this version's naming convention, if it fits.
    pub fn with_number(self, number: u32) -> Option<VersionNum> {
        if number == 0 {
            return None;
        }
        if let Some(width) = self.padding {
            // A padded name keeps at least one leading zero: v0999 is the last of width 4.
            let max = 10u64.pow(u32::from(width).saturating_sub(1)) - 1;
            if u64::from(number) > max {
                return None;
            }
        }
        Some(VersionNum {
            number,
            padding: self.padding,
        })
    }

    /// The next version in the same naming convention.
    pub fn next(self) -> Result<VersionNum, VersionNumError> {
        self.number
            .checked_add(1)
            .and_then(|n| self.with_number(n))
            .ok_or_else(|| VersionNumError::Exhausted(self.to_string()))
    }

    /// The previous version, or `None` for version 1.
    pub fn previous(self) -> Option<VersionNum> {
        self.with_number(self.number - 1)
    }
}

impl fmt::Display for VersionNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.padding {
            Some(width) => write!(f, "v{:0width$}", self.number, width = usize::from(width)),
            None => write!(f, "v{}", self.number),
        }
    }
}

impl PartialOrd for VersionNum {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VersionNum {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.number
            .cmp(&other.number)
            .then(self.padding.cmp(&other.padding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let v = VersionNum::parse("v1").expect("valid");
        assert_eq!((v.number(), v.padding()), (1, None));
        let v = VersionNum::parse("v0003").expect("valid");
        assert_eq!((v.number(), v.padding()), (3, Some(4)));
        assert_eq!(v.to_string(), "v0003");
        assert_eq!(v.next().expect("fits").to_string(), "v0004");
        assert!(VersionNum::parse("v099").expect("valid").next().is_err());
        assert_eq!(
            VersionNum::parse("v99")
                .expect("valid")
                .next()
                .expect("fits")
                .to_string(),
            "v100"
        );
    }

    #[test]
    fn rejects_non_versions() {
        for bad in [
            "1", "v", "v0", "v000", "V1", "v1a", "v-1", "v+1", "version1", "v 1",
        ] {
            assert!(VersionNum::parse(bad).is_err(), "{bad}");
        }
    }
}
