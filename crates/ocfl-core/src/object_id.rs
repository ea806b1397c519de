//! Object identifiers.

use std::fmt;

/// Why a string is not usable as an object id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectIdError {
    /// The id is empty.
    #[error("object id is empty")]
    Empty,
    /// The id contains a control character (newline, tab, NUL...), which no layout or
    /// terminal handles safely.
    #[error("object id {0:?} contains a control character")]
    ControlCharacter(String),
}

/// An OCFL object identifier: any non-empty string without control characters. The
/// specification asks (W005) that it be a URI; [`ObjectId::is_uri`] tells.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<ObjectId, ObjectIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ObjectIdError::Empty);
        }
        if id.chars().any(char::is_control) {
            return Err(ObjectIdError::ControlCharacter(id));
        }
        Ok(ObjectId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id starts with a URI scheme (RFC 3986: a letter, then letters, digits,
    /// `+`, `-` or `.`, then `:`).
    pub fn is_uri(&self) -> bool {
        is_uri(&self.0)
    }
}

/// Whether `s` starts with an RFC 3986 scheme followed by `:` and something more.
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(ObjectId::new("").is_err());
        assert!(ObjectId::new("a\nb").is_err());
        assert!(ObjectId::new("ark:/12345/bcd987").expect("valid").is_uri());
        assert!(ObjectId::new("info:fedora/x").expect("valid").is_uri());
        assert!(!ObjectId::new("bb123cd4567").expect("valid").is_uri());
        assert!(!ObjectId::new("1ab:x").expect("valid").is_uri());
        assert!(is_uri("mailto:a@example.org"));
        assert!(!is_uri("a@example.org"));
    }
}
