//! The prefix removal shared by extensions 0006 and 0007: everything up to and including
//! the right-most occurrence of a case-insensitive delimiter.

/// Where the id's prefix ends: the byte index just after the right-most occurrence of
/// `delimiter`, compared ignoring ASCII case, or `None` when it does not occur.
///
/// Case is folded for ASCII letters only: full Unicode case folding can change a string's
/// length, which would make "the rest of the id" ill-defined. Extension 0007 is defined
/// over ASCII anyway.
pub(crate) fn prefix_end(id: &str, delimiter: &str) -> Option<usize> {
    let (haystack, needle) = (id.as_bytes(), delimiter.as_bytes());
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    // A match starts on the delimiter's first byte, never a UTF-8 continuation byte, and
    // covers whole characters, so both ends fall on character boundaries.
    (0..=haystack.len() - needle.len())
        .rev()
        .find(|&start| haystack[start..start + needle.len()].eq_ignore_ascii_case(needle))
        .map(|start| start + needle.len())
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn right_most_case_insensitive() {
        assert_eq!(prefix_end("urn:uuid:x", ":"), Some(9));
        assert_eq!(prefix_end("https://a.EDU/b/edu/c", "edu/"), Some(20));
        assert_eq!(prefix_end("https://a.EDU/b", "edu/"), Some(14));
        assert_eq!(prefix_end("abc", ":"), None);
        assert_eq!(prefix_end("ab", "abc"), None);
        assert_eq!(prefix_end("é:è", ":"), Some(3));
        assert_eq!(prefix_end("a:", ":"), Some(2));
    }
}
