//! Where a storage root, its work area and its engine store are.
//!
//! A root argument containing `://` is a URL: `s3://BUCKET[/PREFIX]` names a root in an S3
//! bucket, `file:///PATH` a local directory, and any other scheme is refused (never taken for
//! a local path: `s3x://b/p` must not create a directory named `s3x:`). Anything else is a
//! local path, so a local directory named `a:b` is still a directory.
//!
//! The work area holds what runs stage and move into the root. It must be outside the root's
//! namespace (validators would report it as stray content), and close enough that a rename
//! reaches the root:
//!
//! - a local root `DIR/NAME`: the sibling `DIR/NAME.ocfl-work/`. A root that is a mount point
//!   keeps its runs' work directories inside it, in `extensions/ocfl-work/` (beside it they
//!   would be on another filesystem, where no rename reaches the root); its engine store and
//!   run data stay in the sibling;
//! - an S3 root `s3://BUCKET/PREFIX`: the sibling prefix `s3://BUCKET/PREFIX.ocfl-work/`, or
//!   an explicit one in the same bucket (content moves into place by server-side copy),
//!   neither inside the root nor holding it ([`S3WorkArea`]). A root at the top of a bucket
//!   has no prefix outside it, so it can be read but not written;
//! - an explicit work area (`--work-area`) replaces the default.
//!
//! The default embedded engine store is `<work area>/state.redb` for a local root. For an S3
//! root it is a local file under the user's state directory (`$XDG_STATE_HOME/ocfl/`, else
//! `~/.local/state/ocfl/`), in a directory named after the endpoint, bucket and prefix
//! ([`s3_state_dir`]), so two servers with a bucket of the same name never share a store.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::digest::DigestAlgorithm;

/// The suffix of a work area's name: `NAME.ocfl-work` beside the root `NAME`.
pub const WORK_AREA_SUFFIX: &str = ".ocfl-work";

/// The engine store's file name in its default directory.
pub const STORE_FILE: &str = "state.redb";

/// Where a mount-point root keeps its runs' work directories: in its `extensions/`, which OCFL
/// validators do not read as objects (while a run is active they may warn that the name is not
/// a registered extension).
pub const IN_ROOT_WORK_DIR: &str = "extensions/ocfl-work";

/// The endpoint an S3 root is keyed by when `AWS_ENDPOINT_URL` is not set: AWS itself.
pub const AWS_DEFAULT_ENDPOINT: &str = "https://s3.amazonaws.com";

/// Why a location cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// A URL whose scheme is neither `s3` nor `file`.
    #[error(
        "unsupported URL scheme {scheme:?} in {url:?}: a storage location is a local path, \
         file:///PATH or s3://BUCKET/PREFIX"
    )]
    UnsupportedScheme {
        /// The scheme, as given.
        scheme: String,
        /// The whole argument.
        url: String,
    },
    /// A URL that is not valid UTF-8.
    #[error("{url:?} is not valid UTF-8")]
    NotUtf8 {
        /// The argument, lossily decoded.
        url: String,
    },
    /// An S3 bucket name S3 would refuse.
    #[error("{url:?}: invalid S3 bucket name {bucket:?}: {reason}")]
    InvalidBucket {
        /// The whole argument.
        url: String,
        /// The bucket name given.
        bucket: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An S3 prefix with an empty, `.` or `..` element.
    #[error("{url:?}: invalid S3 prefix: {reason}")]
    InvalidPrefix {
        /// The whole argument.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A `file://` URL this parser does not take.
    #[error("{url:?}: {reason}")]
    InvalidFileUrl {
        /// The whole argument.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An S3 root at the top of a bucket: every other prefix of the bucket is inside it, so
    /// it has nowhere for a work area that validators of the root would not see.
    #[error(
        "the storage root {root} is the top of its bucket, so no prefix of the bucket is \
         outside it for a work area (validators of the root would see it): it can be read and \
         validated, not written; put the root below a prefix (s3://BUCKET/PREFIX)"
    )]
    TopOfBucket {
        /// The root's URL.
        root: String,
    },
    /// An S3 work area inside the root it serves, or holding it.
    #[error(
        "storage root {root}: work area {work_area}: it must not be inside the storage root, \
         nor hold it (validators of the root would see it)"
    )]
    WorkAreaInsideRoot {
        /// The root's URL.
        root: String,
        /// The work area given.
        work_area: String,
    },
    /// An S3 root's work area that is not a prefix of the root's bucket.
    #[error(
        "storage root {root}: work area {work_area}: the work area of an S3 root must be a \
         prefix of the same bucket (content moves into place by server-side copy)"
    )]
    WorkAreaOtherBucket {
        /// The root's URL.
        root: String,
        /// The work area given.
        work_area: String,
    },
    /// A local root with a work area that is not a local directory.
    #[error(
        "the work area {work_area} of the local storage root {root} must be a local directory \
         (runs move files from it into the root by renaming them)"
    )]
    WorkAreaNotLocal {
        /// The root.
        root: String,
        /// The work area given.
        work_area: String,
    },
    /// A local root whose path cannot hold a sibling work area.
    #[error("storage root {}: {reason}", path.display())]
    RootPath {
        /// The root.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A local path that cannot be resolved (it does not exist, or cannot be read).
    #[error("{what} {}: {message}", path.display())]
    Io {
        /// What the path is ("storage root", "work area").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        message: String,
    },
    /// No state directory: neither `XDG_STATE_HOME` nor `HOME` is set.
    #[error(
        "no directory for the engine's store of {root}: set XDG_STATE_HOME or HOME, or give \
         --state PATH"
    )]
    NoStateHome {
        /// The root's URL.
        root: String,
    },
}

/// A storage location: a local directory or a prefix in an S3 bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A local directory (relative paths are relative to the working directory).
    Local(PathBuf),
    /// A prefix in an S3 bucket.
    S3(S3Location),
}

impl Location {
    /// Parses a root or work-area argument: a URL when it contains `://`, else a local path.
    pub fn parse(text: &OsStr) -> Result<Location, LocationError> {
        let bytes = text.as_encoded_bytes();
        if !bytes.windows(3).any(|w| w == b"://") {
            return Ok(Location::Local(PathBuf::from(text)));
        }
        let url = text.to_str().ok_or_else(|| LocationError::NotUtf8 {
            url: text.to_string_lossy().into_owned(),
        })?;
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(LocationError::NotUtf8 {
                url: url.to_owned(),
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "s3" => S3Location::parse_after_scheme(url, rest).map(Location::S3),
            "file" => parse_file_url(url, rest).map(Location::Local),
            _ => Err(LocationError::UnsupportedScheme {
                scheme: scheme.to_owned(),
                url: url.to_owned(),
            }),
        }
    }

    /// [`Location::parse`] for a `&str`.
    pub fn parse_str(text: &str) -> Result<Location, LocationError> {
        Location::parse(OsStr::new(text))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3(s3) => s3.fmt(f),
        }
    }
}

/// `file://[localhost]/ABSOLUTE/PATH`, taken literally: a percent-encoded URL is refused
/// rather than guessed at (give the path itself instead).
fn parse_file_url(url: &str, rest: &str) -> Result<PathBuf, LocationError> {
    let bad = |reason| LocationError::InvalidFileUrl {
        url: url.to_owned(),
        reason,
    };
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(bad(
            "a file URL names an absolute path on this host: file:///PATH",
        ));
    }
    if path.contains(['%', '?', '#']) {
        return Err(bad(
            "percent-encoding, queries and fragments are not supported in file URLs; give the \
             path itself",
        ));
    }
    Ok(PathBuf::from(path))
}

/// A prefix in an S3 bucket: `s3://BUCKET/PREFIX` (the prefix may be empty: the top of the
/// bucket). The prefix never starts or ends with `/` and has no empty, `.` or `..` element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Location {
    bucket: String,
    prefix: String,
}

impl S3Location {
    /// A location from its parts, checked as [`Location::parse`] checks a URL.
    pub fn new(bucket: &str, prefix: &str) -> Result<S3Location, LocationError> {
        let url = match prefix {
            "" => format!("s3://{bucket}"),
            _ => format!("s3://{bucket}/{prefix}"),
        };
        check_bucket(&url, bucket)?;
        let prefix = check_prefix(&url, prefix)?;
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    fn parse_after_scheme(url: &str, rest: &str) -> Result<S3Location, LocationError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(url, bucket)?;
        let prefix = check_prefix(url, prefix)?;
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The prefix, without leading or trailing `/` (empty at the top of the bucket).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The sibling prefix `PREFIX.ocfl-work`, or `None` at the top of the bucket.
    pub fn sibling_work_area(&self) -> Option<S3Location> {
        (!self.prefix.is_empty()).then(|| S3Location {
            bucket: self.bucket.clone(),
            prefix: format!("{}{WORK_AREA_SUFFIX}", self.prefix),
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            prefix => write!(f, "s3://{}/{prefix}", self.bucket),
        }
    }
}

/// The bucket naming rules of S3 general purpose buckets (which S3-compatible servers follow).
fn check_bucket(url: &str, bucket: &str) -> Result<(), LocationError> {
    let bad = |reason| LocationError::InvalidBucket {
        url: url.to_owned(),
        bucket: bucket.to_owned(),
        reason,
    };
    if bucket.is_empty() {
        return Err(bad("it is empty"));
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(bad("it must be 3 to 63 characters long"));
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(bad(
            "it may hold only lower-case letters, digits, dots and hyphens",
        ));
    }
    let alphanumeric = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alphanumeric(bucket.bytes().next()) || !alphanumeric(bucket.bytes().last()) {
        return Err(bad("it must begin and end with a letter or a digit"));
    }
    if bucket.contains("..") {
        return Err(bad("it must not hold two adjacent dots"));
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad("it must not be an IP address"));
    }
    const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if RESERVED_PREFIXES.iter().any(|p| bucket.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| bucket.ends_with(s))
    {
        return Err(bad("it uses a prefix or suffix S3 reserves"));
    }
    Ok(())
}

/// The prefix with one leading and one trailing `/` removed; refused with an empty, `.` or
/// `..` element.
fn check_prefix(url: &str, prefix: &str) -> Result<String, LocationError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for element in trimmed.split('/') {
        let reason = match element {
            "" => "it has an empty element (two slashes in a row)".to_owned(),
            "." | ".." => format!("it has a {element:?} element"),
            _ => continue,
        };
        return Err(LocationError::InvalidPrefix {
            url: url.to_owned(),
            reason,
        });
    }
    Ok(trimmed.to_owned())
}

/// Where a local storage root's runs do their work, all relative to one base directory that
/// holds both the root and the work area (so one filesystem handle reaches both, and finished
/// files are moved into the root by rename).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWorkArea {
    /// A directory holding the root and the work area: the root's parent by default.
    pub base: PathBuf,
    /// The storage root, relative to `base`.
    pub root: String,
    /// The work area, relative to `base`: `<root>.ocfl-work` by default. Purges move objects
    /// here, and the engine store and run data live here by default.
    pub area: String,
    /// Where runs make their work directories, relative to `base`: `area`, except in a root
    /// that is a mount point with the default work area ([`IN_ROOT_WORK_DIR`] inside it).
    pub runs: String,
}

impl LocalWorkArea {
    /// The work area of the local root `root` (which must exist), or of `explicit` (a
    /// `--work-area`, which must be local and is created if missing).
    pub fn of(root: &Path, explicit: Option<&Location>) -> Result<LocalWorkArea, LocationError> {
        let root = canonical("storage root", root)?;
        let (parent, name) = split_root(&root)?;
        let Some(explicit) = explicit else {
            let area = format!("{name}{WORK_AREA_SUFFIX}");
            let runs = match is_mount_point(&root, &parent)? {
                true => format!("{name}/{IN_ROOT_WORK_DIR}"),
                false => area.clone(),
            };
            return Ok(LocalWorkArea {
                base: parent,
                root: name,
                area,
                runs,
            });
        };
        let Location::Local(dir) = explicit else {
            return Err(LocationError::WorkAreaNotLocal {
                root: root.display().to_string(),
                work_area: explicit.to_string(),
            });
        };
        let dir = absolute_lexical(dir)?;
        let base = common_ancestor(&root, &dir);
        let relative = |path: &Path| -> Result<String, LocationError> {
            let rel = path.strip_prefix(&base).unwrap_or(path);
            rel.to_str()
                .map(str::to_owned)
                .ok_or_else(|| LocationError::RootPath {
                    path: path.to_path_buf(),
                    reason: "its path is not valid UTF-8",
                })
        };
        let (root_rel, area) = (relative(&root)?, relative(&dir)?);
        if area.is_empty() || root_rel.is_empty() || dir.starts_with(&root) {
            return Err(LocationError::RootPath {
                path: dir,
                reason: "a work area must be outside the storage root and must not contain it",
            });
        }
        Ok(LocalWorkArea {
            base,
            root: root_rel,
            runs: area.clone(),
            area,
        })
    }

    /// The storage root, absolute.
    pub fn root_path(&self) -> PathBuf {
        self.base.join(&self.root)
    }

    /// The work area, absolute.
    pub fn area_path(&self) -> PathBuf {
        self.base.join(&self.area)
    }

    /// The default engine store: `<work area>/state.redb`.
    pub fn default_store(&self) -> PathBuf {
        self.area_path().join(STORE_FILE)
    }
}

/// Where the keys of an S3 root and of its work area are: two prefixes of one bucket, below a
/// common `base` prefix, so that one store over `base` reaches both (content moves from the
/// work area into the root by server-side copy, which needs one bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3WorkArea {
    /// The prefix holding the root and the work area: the root's parent prefix by default
    /// (empty at the top of the bucket).
    pub base: S3Location,
    /// The root's prefix, relative to `base`.
    pub root: String,
    /// The work area's prefix, relative to `base`: `<root>.ocfl-work` by default.
    pub area: String,
}

impl S3WorkArea {
    /// The work area of the S3 root `root`: `explicit` (a `--work-area`), or the sibling
    /// prefix `PREFIX.ocfl-work`. A work area must be a prefix of the root's bucket outside the
    /// root and not holding it, so a root at the top of its bucket has none.
    pub fn of(root: &S3Location, explicit: Option<&Location>) -> Result<S3WorkArea, LocationError> {
        let top = || LocationError::TopOfBucket {
            root: root.to_string(),
        };
        let sibling = root.sibling_work_area().ok_or_else(top)?;
        let work = match explicit {
            None => sibling.clone(),
            Some(Location::S3(work)) if work.bucket() == root.bucket() => work.clone(),
            Some(other) => {
                return Err(LocationError::WorkAreaOtherBucket {
                    root: root.to_string(),
                    work_area: other.to_string(),
                });
            }
        };
        let prefix = root.prefix();
        if work == sibling {
            let (parent, name) = prefix.rsplit_once('/').unwrap_or(("", prefix));
            return Ok(S3WorkArea {
                base: S3Location {
                    bucket: root.bucket.clone(),
                    prefix: parent.to_owned(),
                },
                root: name.to_owned(),
                area: format!("{name}{WORK_AREA_SUFFIX}"),
            });
        }
        let inside = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if work.prefix().is_empty()
            || inside(work.prefix(), prefix)
            || inside(prefix, work.prefix())
        {
            return Err(LocationError::WorkAreaInsideRoot {
                root: root.to_string(),
                work_area: work.to_string(),
            });
        }
        Ok(S3WorkArea {
            base: S3Location {
                bucket: root.bucket.clone(),
                prefix: String::new(),
            },
            root: prefix.to_owned(),
            area: work.prefix().to_owned(),
        })
    }
}

/// The directory of the default embedded store of the S3 root `root` on the server at
/// `endpoint` (`None`: AWS), below `state_home` (see [`state_home`]): a readable name made of
/// the bucket and prefix, plus a hash of endpoint, bucket and prefix that keeps roots of
/// different servers apart.
pub fn s3_state_dir(state_home: &Path, endpoint: Option<&str>, root: &S3Location) -> PathBuf {
    let endpoint = endpoint
        .map(|e| e.trim_end_matches('/'))
        .filter(|e| !e.is_empty())
        .unwrap_or(AWS_DEFAULT_ENDPOINT);
    let key = format!("{endpoint}\n{}\n{}", root.bucket, root.prefix);
    let digest = DigestAlgorithm::Sha256.digest_bytes(key.as_bytes());
    let mut slug: String = format!("{}-{}", root.bucket, root.prefix)
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '-',
        })
        .take(64)
        .collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    state_home
        .join("ocfl")
        .join(format!("{slug}-{}", &digest.as_str()[..12]))
}

/// The user's state directory: `$XDG_STATE_HOME`, else `$HOME/.local/state` (XDG Base
/// Directory); `var` reads the environment.
pub fn state_home(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".local/state")))
}

/// The S3 endpoint the AWS tools use: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; `None`
/// for AWS itself.
pub fn s3_endpoint(var: impl Fn(&str) -> Option<OsString>) -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .into_iter()
        .filter_map(var)
        .find(|v| !v.is_empty())
        .map(|v| v.to_string_lossy().into_owned())
}

fn canonical(what: &'static str, path: &Path) -> Result<PathBuf, LocationError> {
    std::fs::canonicalize(path).map_err(|e| LocationError::Io {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `path` made absolute: canonical if it exists, else its parent's canonical path joined with
/// its name (a work area is created when first used).
fn absolute_lexical(path: &Path) -> Result<PathBuf, LocationError> {
    if path.exists() {
        return canonical("work area", path);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            Ok(absolute_lexical(parent)?.join(name))
        }
        (_, Some(name)) => Ok(canonical("work area", Path::new("."))?.join(name)),
        _ => Err(LocationError::RootPath {
            path: path.to_path_buf(),
            reason: "a work area needs a name",
        }),
    }
}

fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

fn split_root(root: &Path) -> Result<(PathBuf, String), LocationError> {
    let bad = |reason| LocationError::RootPath {
        path: root.to_path_buf(),
        reason,
    };
    let parent = root
        .parent()
        .ok_or_else(|| bad("a storage root needs a parent directory for its work area"))?;
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("its name is not valid UTF-8"))?;
    Ok((parent.to_path_buf(), name.to_owned()))
}

/// Whether `root` is on another filesystem than its parent directory.
fn is_mount_point(root: &Path, parent: &Path) -> Result<bool, LocationError> {
    use std::os::unix::fs::MetadataExt;
    let device = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.dev())
            .map_err(|e| LocationError::Io {
                what: "storage root",
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    };
    Ok(device(root)? != device(parent)?)
}

#[cfg(test)]
mod tests;
