//! How ids, versions and logical paths travel in URLs.
//!
//! An object id or a run id is one path segment, percent-encoded whole (a `/` in an id is
//! `%2F`): ids may hold any character. A logical path is the rest of the URL after
//! `files/`, its segments separated by literal `/` and each percent-encoded; a segment
//! that decodes to something holding a `/` (an encoded separator), or that is empty, `.`
//! or `..`, is refused, so a URL names a logical path in exactly one way and never climbs
//! out of the object. Query values are form-encoded as usual.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::Failure;

/// Everything but the unreserved characters of RFC 3986 is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` as one path segment.
pub fn segment(value: &str) -> String {
    let encoded = utf8_percent_encode(value, SEGMENT).to_string();
    // `.` and `..` are dot segments that clients remove before sending.
    match encoded.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => encoded,
    }
}

/// A logical path as the tail of a URL: each segment encoded, joined by `/`.
pub fn logical_path(path: &str) -> String {
    path.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// A query value (`application/x-www-form-urlencoded`).
pub fn query_value(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// An id from one segment of the URL, as the router decoded it (once).
pub fn decoded_id(value: &str, what: &str) -> Result<String, Failure> {
    if value.is_empty() {
        return Err(Failure::bad_request(format!(
            "the {what} in the URL is empty"
        )));
    }
    Ok(value.to_owned())
}

/// The raw (still encoded) tail of `path` after its first `skip` segments: the router
/// decodes what it captures, which would hide an encoded separator.
pub fn raw_tail(path: &str, skip: usize) -> Option<&str> {
    path.splitn(skip + 2, '/').nth(skip + 1)
}

/// The raw (still encoded) tail of a URL carrying a logical path.
pub fn decode_logical_path(raw: &str) -> Result<String, Failure> {
    let mut segments = Vec::new();
    for raw_segment in raw.split('/') {
        let decoded = percent_decode_str(raw_segment)
            .decode_utf8()
            .map_err(|_| Failure::bad_request("the file path in the URL is not UTF-8"))?;
        if decoded.contains('/') {
            return Err(Failure::bad_request(
                "the file path in the URL holds an encoded separator (%2F): separate its \
                 segments with a literal /",
            ));
        }
        if decoded.is_empty() || decoded == "." || decoded == ".." {
            return Err(Failure::bad_request(
                "the file path in the URL has an empty, . or .. segment",
            ));
        }
        segments.push(decoded.into_owned());
    }
    Ok(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_one_segment() {
        for id in [
            "ark:/13030/x",
            "a%2Fb",
            "..",
            ".",
            "\"q\" <x>",
            "sp ace",
            "é/ü",
        ] {
            let encoded = segment(id);
            assert!(!encoded.contains('/'), "{encoded}");
            assert_ne!(encoded, "..");
            let decoded = percent_decode_str(&encoded).decode_utf8().expect("utf-8");
            assert_eq!(decoded, id);
        }
    }

    #[test]
    fn the_raw_tail_follows_the_route_segments() {
        let path = "/api/objects/a%2Fb/versions/v1/files/d/e%2Ff";
        assert_eq!(raw_tail(path, 6), Some("d/e%2Ff"));
        assert_eq!(raw_tail("/objects/x", 6), None);
    }

    #[test]
    fn logical_paths_round_trip_and_refuse_tricks() {
        for path in [
            "a/b/c.txt",
            "100%/x",
            "<script>alert(1)</script>",
            "sp ace/é",
        ] {
            assert_eq!(
                decode_logical_path(&logical_path(path)).expect("decoded"),
                path
            );
        }
        for raw in [
            "a/../b",
            "..",
            "a/%2E%2E/b",
            "a%2Fb",
            "a%2fb",
            "a//b",
            "a/./b",
            "/a",
            "%FF",
        ] {
            assert!(decode_logical_path(raw).is_err(), "{raw}");
        }
    }
}
