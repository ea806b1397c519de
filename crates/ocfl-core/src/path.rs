//! Logical paths (names of files in a version's state) and content paths (where a file's
//! bytes are stored, relative to the object root). Both share one grammar: one or more
//! non-empty elements joined by `/`, none of them `.` or `..`, no leading or trailing `/`
//! (E051-E053 for logical paths, E098-E100 for content paths).

use std::fmt;

/// Why a string is not a valid logical or content path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is the empty string.
    #[error("path is empty")]
    Empty,
    /// The path begins or ends with `/`.
    #[error("path {0:?} begins or ends with '/'")]
    LeadingOrTrailingSlash(String),
    /// An element is empty (`//`), `.` or `..`.
    #[error("path {path:?} has a forbidden element {element:?} (empty, '.' or '..')")]
    BadElement {
        /// The whole path.
        path: String,
        /// The offending element.
        element: String,
    },
}

/// Checks the grammar shared by logical and content paths.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Err(PathError::LeadingOrTrailingSlash(path.to_owned()));
    }
    for element in path.split('/') {
        if element.is_empty() || element == "." || element == ".." {
            return Err(PathError::BadElement {
                path: path.to_owned(),
                element: element.to_owned(),
            });
        }
    }
    Ok(())
}

macro_rules! path_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `path` against the path grammar.
            pub fn new(path: impl Into<String>) -> Result<$name, PathError> {
                let path = path.into();
                check_path(&path)?;
                Ok($name(path))
            }

            /// The path text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The `/`-separated elements.
            pub fn elements(&self) -> impl Iterator<Item = &str> {
                self.0.split('/')
            }

            /// Whether `self` names a directory that contains `other`
            /// (`a/b` is a prefix of `a/b/c`, not of `a/bc`): the conflict E095/E101 forbid.
            pub fn is_directory_of(&self, other: &$name) -> bool {
                other.0.len() > self.0.len()
                    && other.0.starts_with(&self.0)
                    && other.0.as_bytes()[self.0.len()] == b'/'
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

path_newtype!(
    /// A path naming a file in a version's state, as the user sees it (`data/file1.txt`).
    LogicalPath
);
path_newtype!(
    /// A path to a stored file, relative to the object root (`v1/content/data/file1.txt`).
    /// Its grammar guarantees it cannot escape the object root.
    ContentPath
);

/// The first pair of paths in `sorted` where one is a directory of the other, if any.
/// `sorted` must be in byte order; a directory sorts before its children, but other names
/// can sit between them (`a`, `a-b`, `a/c`), so each path is checked against the children
/// that follow it within its prefix range.
pub fn find_conflict<'a>(sorted: &[&'a str]) -> Option<(&'a str, &'a str)> {
    for (i, parent) in sorted.iter().enumerate() {
        for child in &sorted[i + 1..] {
            if !child.starts_with(parent) {
                break;
            }
            if child.as_bytes().get(parent.len()) == Some(&b'/') {
                return Some((parent, child));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "a",
            "a/b",
            "a b/c%3A",
            "...",
            "a/.b",
            "v1/content/x.txt",
            "é/ü",
        ] {
            assert!(check_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for p in [
            "", "/a", "a/", "a//b", "./a", "a/..", "a/./b", "..", ".", "/",
        ] {
            assert!(check_path(p).is_err(), "{p}");
        }
    }

    #[test]
    fn directory_conflicts() {
        let a = LogicalPath::new("a/b").expect("valid");
        assert!(a.is_directory_of(&LogicalPath::new("a/b/c").expect("valid")));
        assert!(!a.is_directory_of(&LogicalPath::new("a/bc").expect("valid")));
        assert_eq!(find_conflict(&["a", "a-b", "a/c"]), Some(("a", "a/c")));
        assert_eq!(find_conflict(&["a", "a-b", "ab/c"]), None);
    }
}
