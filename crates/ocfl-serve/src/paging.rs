//! Pages of listings: `?limit=N&after=KEY`, keyset pages with a `next` key.

use serde::Deserialize;

use crate::error::Failure;

/// Items per page when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;

/// The most items a page holds: a request for more is refused, so no request makes the
/// server build an answer of unbounded size.
pub const MAX_LIMIT: usize = 1000;

/// The paging parameters of a listing.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PageQuery {
    /// Items per page (1 to [`MAX_LIMIT`]).
    pub limit: Option<String>,
    /// The key the page starts after: the `next` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The page size asked for, checked.
    pub fn limit(&self) -> Result<usize, Failure> {
        let Some(text) = self.limit.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(DEFAULT_LIMIT);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Failure::bad_request(format!(
                "limit must be a number from 1 to {MAX_LIMIT}"
            ))),
        }
    }

    /// The key to start after, if any.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|a| !a.is_empty())
    }
}

/// One page of `items` sorted by `key`: those after `after`, at most `limit`, and the key
/// of the last one when more follow.
pub fn page_of<'i, T>(
    items: &'i [T],
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    limit: usize,
) -> (&'i [T], Option<String>) {
    let start = after.map_or(0, |after| items.partition_point(|item| key(item) <= after));
    let rest = &items[start..];
    let page = &rest[..rest.len().min(limit)];
    let next = (rest.len() > limit)
        .then(|| page.last().map(|item| key(item).to_owned()))
        .flatten();
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_without_gaps() {
        let items: Vec<String> = (0..25).map(|n| format!("k{n:02}")).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = page_of(&items, String::as_str, after.as_deref(), 10);
            seen.extend(page.iter().cloned());
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn limits_are_checked() {
        let query = |limit: &str| PageQuery {
            limit: Some(limit.to_owned()),
            after: None,
        };
        assert_eq!(query("1000").limit().expect("ok"), 1000);
        assert_eq!(PageQuery::default().limit().expect("ok"), DEFAULT_LIMIT);
        for bad in ["0", "1001", "-1", "x"] {
            assert!(query(bad).limit().is_err(), "{bad}");
        }
    }
}
