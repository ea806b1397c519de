//! Which codes a malformed logical or content path breaks. Validity itself is
//! [`check_path`]'s; this only splits a failure into the specification's codes, since one
//! path can break several rules at once (`//a` has both a leading `/` and an empty element).

use crate::path::check_path;
use crate::validate::Code;

/// The codes of one kind of path: no elements, a forbidden element, a leading or trailing `/`.
pub(super) struct PathCodes {
    pub(super) empty: Code,
    pub(super) bad_element: Code,
    pub(super) slash: Code,
}

/// Content paths (manifest and fixity): E098, E099, E100.
pub(super) const CONTENT: PathCodes = PathCodes {
    empty: Code::E098,
    bad_element: Code::E099,
    slash: Code::E100,
};

/// Logical paths (version state): E051, E052, E053.
pub(super) const LOGICAL: PathCodes = PathCodes {
    empty: Code::E051,
    bad_element: Code::E052,
    slash: Code::E053,
};

/// Every rule `path` breaks, each with a short reason; empty when the path is valid.
pub(super) fn path_problems(path: &str, codes: &PathCodes) -> Vec<(Code, &'static str)> {
    if check_path(path).is_ok() {
        return Vec::new();
    }
    if path.is_empty() {
        return vec![(codes.empty, "is empty")];
    }
    let mut problems = Vec::new();
    if path.starts_with('/') || path.ends_with('/') {
        problems.push((codes.slash, "begins or ends with '/'"));
    }
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner
        .split('/')
        .any(|element| element.is_empty() || element == "." || element == "..")
    {
        problems.push((codes.bad_element, "has an empty, '.' or '..' element"));
    }
    if problems.is_empty() {
        // check_path rejected it for a reason not classified above; never silently accept.
        problems.push((codes.empty, "is not a valid path"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(path: &str) -> Vec<Code> {
        path_problems(path, &LOGICAL)
            .into_iter()
            .map(|(code, _)| code)
            .collect()
    }

    #[test]
    fn splits_failures_into_codes() {
        assert_eq!(codes("a/b"), vec![]);
        assert_eq!(codes(""), vec![Code::E051]);
        assert_eq!(codes("/a"), vec![Code::E053]);
        assert_eq!(codes("a/"), vec![Code::E053]);
        assert_eq!(codes("../../a"), vec![Code::E052]);
        assert_eq!(codes("//a"), vec![Code::E053, Code::E052]);
        assert_eq!(codes("a//b"), vec![Code::E052]);
        assert_eq!(codes("/"), vec![Code::E053, Code::E052]);
    }
}
