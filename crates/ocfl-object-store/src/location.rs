//! The keys of one root: storage paths mapped below the prefix of an
//! [`S3Location`](ocfl_core::location::S3Location), so that every key stays below it.

use object_store::path::Path;
use ocfl_core::location::S3Location;
use ocfl_core::storage::{check_storage_path, join};

use crate::Error;

/// A bucket and prefix, checked to map storage paths to keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Keys {
    location: S3Location,
}

impl Keys {
    /// The keys below `location`. `ocfl-core` has checked the bucket and the prefix's
    /// elements; the prefix must also be a valid storage path and object-store path (no
    /// control character).
    pub(crate) fn new(location: S3Location) -> Result<Keys, Error> {
        let prefix = location.prefix();
        if check_storage_path(prefix).is_err() || Path::parse(prefix).is_err() {
            return Err(Error::InvalidLocation {
                location: location.to_string(),
                reason: "the prefix must be a relative path of plain elements (no control \
                         character)"
                    .to_owned(),
            });
        }
        Ok(Keys { location })
    }

    /// The same bucket under `prefix`.
    pub(crate) fn with_prefix(&self, prefix: &str) -> Result<Keys, Error> {
        let location =
            S3Location::new(self.bucket(), prefix).map_err(|e| Error::InvalidLocation {
                location: format!("s3://{}/{prefix}", self.bucket()),
                reason: e.to_string(),
            })?;
        Keys::new(location)
    }

    pub(crate) fn location(&self) -> &S3Location {
        &self.location
    }

    pub(crate) fn bucket(&self) -> &str {
        self.location.bucket()
    }

    /// The key for `path` below the prefix, refusing anything that could name a key outside it
    /// (absolute paths, `.`/`..`, empty elements, control characters; a backslash is an
    /// ordinary character of a key).
    pub(crate) fn key(&self, path: &str) -> Result<Path, Error> {
        let refused = || Error::InvalidPath {
            path: path.to_owned(),
            root: self.location.to_string(),
        };
        check_storage_path(path).map_err(|_| refused())?;
        Path::parse(join(self.location.prefix(), path)).map_err(|_| refused())
    }

    /// `s3://bucket/key` for the storage path `path`, for messages; paths that are not valid
    /// are shown as given, below the prefix.
    pub(crate) fn url(&self, path: &str) -> String {
        let key = join(self.location.prefix(), path);
        if key.is_empty() {
            format!("s3://{}", self.bucket())
        } else {
            format!("s3://{}/{key}", self.bucket())
        }
    }

    /// The storage path of a key the store listed, or `None` for a key outside the prefix.
    pub(crate) fn relative<'a>(&self, key: &'a Path) -> Option<&'a str> {
        let key = key.as_ref();
        let prefix = self.location.prefix();
        if prefix.is_empty() {
            return Some(key);
        }
        key.strip_prefix(prefix)?.strip_prefix('/')
    }
}

impl std::fmt::Display for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.location.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bucket: &str, prefix: &str) -> Keys {
        Keys::new(S3Location::new(bucket, prefix).expect("valid location")).expect("valid keys")
    }

    #[test]
    fn keys_stay_below_the_prefix() {
        let keys = keys("bucket", "roots/one");
        assert_eq!(keys.key("a/b").expect("valid").as_ref(), "roots/one/a/b");
        assert_eq!(keys.key("").expect("root").as_ref(), "roots/one");
        for escaping in [
            "../two/x",
            "a/../../x",
            "/etc",
            "a//b",
            "a/",
            ".",
            "a\u{1}b",
        ] {
            let error = keys.key(escaping).expect_err(escaping);
            assert!(
                matches!(error, Error::InvalidPath { .. }),
                "{escaping}: {error}"
            );
        }
        // A backslash is an ordinary character of a key, never a separator.
        assert_eq!(
            keys.key("a\\..\\b").expect("one element").as_ref(),
            "roots/one/a\\..\\b"
        );
        assert_eq!(keys.url("a/b"), "s3://bucket/roots/one/a/b");
        assert_eq!(keys.to_string(), "s3://bucket/roots/one");
    }

    #[test]
    fn listed_keys_map_back_only_below_the_prefix() {
        let root = keys("bucket", "root");
        assert_eq!(root.relative(&Path::from("root/x/y")), Some("x/y"));
        assert_eq!(root.relative(&Path::from("root.ocfl-work/x")), None);
        assert_eq!(root.relative(&Path::from("rootx")), None);
        let top = keys("bucket", "");
        assert_eq!(top.relative(&Path::from("x/y")), Some("x/y"));
        assert_eq!(top.url(""), "s3://bucket");
    }

    #[test]
    fn prefixes_that_are_not_plain_paths_are_refused() {
        for prefix in ["a\u{1}b", "a/\u{7f}"] {
            let location = S3Location::new("bucket", prefix).expect("ocfl-core accepts it");
            assert!(Keys::new(location).is_err(), "{prefix:?}");
        }
        let root = keys("bucket", "root");
        assert!(root.with_prefix("../x").is_err());
        assert_eq!(
            root.with_prefix("root.ocfl-work")
                .expect("sibling")
                .url("r"),
            "s3://bucket/root.ocfl-work/r"
        );
    }
}
