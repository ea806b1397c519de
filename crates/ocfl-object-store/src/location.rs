//! Where a store's keys live: a bucket and a prefix, and the mapping from storage paths to
//! keys that keeps every key below the prefix.

use object_store::path::Path;
use ocfl_core::storage::{check_storage_path, join};

use crate::Error;

/// A bucket and a key prefix: the storage root `s3://BUCKET/PREFIX`.
///
/// The prefix is empty (the top of the bucket) or a relative path of normal elements, without
/// leading or trailing `/`; every key the store touches is `PREFIX/PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    scheme: &'static str,
    bucket: String,
    prefix: String,
}

impl Location {
    /// An S3 location. The bucket name follows S3's rules (3-63 lower-case letters, digits,
    /// `.` and `-`); the prefix is checked as a storage path.
    pub fn s3(bucket: &str, prefix: &str) -> Result<Location, Error> {
        let invalid = |reason: &str| Error::InvalidLocation {
            location: format!("s3://{bucket}/{prefix}"),
            reason: reason.to_owned(),
        };
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            && !bucket.starts_with(['.', '-'])
            && !bucket.ends_with(['.', '-']);
        if !bucket_ok {
            return Err(invalid(
                "a bucket name is 3-63 lower-case letters, digits, '.' and '-'",
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if check_storage_path(prefix).is_err() || Path::parse(prefix).is_err() {
            return Err(invalid(
                "the prefix must be a relative path without '.', '..' or empty elements",
            ));
        }
        Ok(Location {
            scheme: "s3",
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (empty at the top of the bucket).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key for `path` below the prefix, refusing anything that could name a key outside it
    /// (absolute paths, `.`/`..`, empty elements, backslashes, control characters).
    pub(crate) fn key(&self, path: &str) -> Result<Path, Error> {
        let refused = || Error::InvalidPath {
            path: path.to_owned(),
            root: self.to_string(),
        };
        check_storage_path(path).map_err(|_| refused())?;
        Path::parse(join(&self.prefix, path)).map_err(|_| refused())
    }

    /// `scheme://bucket/key` for the storage path `path`, for messages; paths that are not
    /// valid are shown as given, below the prefix.
    pub fn url(&self, path: &str) -> String {
        let key = join(&self.prefix, path);
        if key.is_empty() {
            format!("{}://{}", self.scheme, self.bucket)
        } else {
            format!("{}://{}/{key}", self.scheme, self.bucket)
        }
    }

    /// The storage path of a key the store listed, or `None` for a key outside the prefix.
    pub(crate) fn relative<'a>(&self, key: &'a Path) -> Option<&'a str> {
        let key = key.as_ref();
        if self.prefix.is_empty() {
            return Some(key);
        }
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_below_the_prefix() {
        let location = Location::s3("bucket", "roots/one").expect("valid");
        assert_eq!(
            location.key("a/b").expect("valid").as_ref(),
            "roots/one/a/b"
        );
        assert_eq!(location.key("").expect("root").as_ref(), "roots/one");
        for escaping in [
            "../two/x",
            "a/../../x",
            "/etc",
            "a//b",
            "a/",
            ".",
            "a\\..\\b",
            "a\u{1}b",
        ] {
            let error = location.key(escaping).expect_err(escaping);
            assert!(
                matches!(error, Error::InvalidPath { .. }),
                "{escaping}: {error}"
            );
        }
        assert_eq!(location.url("a/b"), "s3://bucket/roots/one/a/b");
        assert_eq!(location.to_string(), "s3://bucket/roots/one");
    }

    #[test]
    fn listed_keys_map_back_only_below_the_prefix() {
        let location = Location::s3("bucket", "root").expect("valid");
        assert_eq!(location.relative(&Path::from("root/x/y")), Some("x/y"));
        assert_eq!(location.relative(&Path::from("root.ocfl-work/x")), None);
        assert_eq!(location.relative(&Path::from("rootx")), None);
        let top = Location::s3("bucket", "").expect("valid");
        assert_eq!(top.relative(&Path::from("x/y")), Some("x/y"));
        assert_eq!(top.url(""), "s3://bucket");
    }

    #[test]
    fn malformed_locations_are_refused() {
        for (bucket, prefix) in [
            ("B", "x"),
            ("ab", "x"),
            ("-ab", "x"),
            ("bucket", "../x"),
            ("bucket", "/x"),
            ("bucket", "a//b"),
        ] {
            assert!(Location::s3(bucket, prefix).is_err(), "{bucket} {prefix}");
        }
        assert_eq!(
            Location::s3("bucket", "a/b/")
                .expect("trailing slash")
                .prefix(),
            "a/b"
        );
    }
}
