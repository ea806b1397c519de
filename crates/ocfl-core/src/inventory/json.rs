//! A JSON value tree that keeps every object member, duplicates included, in document order.
//!
//! `serde_json::Value` silently keeps the last of two equal keys, which would hide an E033
//! defect (and let the two readers of one inventory disagree about its content). Parsing into
//! this tree keeps both members so [`duplicate_keys`] can report them; lookups with
//! [`Json::get`] return the first.
//!
//! Strings borrow from the document wherever it holds them verbatim (no escapes): a large
//! inventory is mostly digests and paths, so an owned tree would double its size in memory.

use foldhash::{HashSet, HashSetExt};
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool,
    Number,
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in document order; keys may repeat.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The JSON type name, for messages ("expected a string, found an array").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The first member named `key`, when `self` is an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }
}

/// Parses `text` (already known to be UTF-8) into a tree. serde_json enforces RFC 8259
/// syntax (no trailing commas, comments or trailing data, valid escapes, no lone surrogates)
/// and a nesting limit, so hostile input ends in an error, never a stack overflow.
pub(crate) fn parse(text: &str) -> Result<Json<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Every repeated key, as (location of the object, key), in document order. One entry per
/// extra occurrence. `location` is a dotted path such as `versions.v1.state`.
pub(crate) fn duplicate_keys(root: &Json<'_>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut location = Vec::new();
    walk(root, &mut location, &mut found);
    found
}

const SMALL_OBJECT: usize = 8;

fn walk<'a>(value: &'a Json<'_>, location: &mut Vec<&'a str>, found: &mut Vec<(String, String)>) {
    match value {
        Json::Object(members) => {
            // Most objects (version blocks, users) are tiny: compare those directly and
            // hash only the large ones (manifest, states), keeping the check linear.
            let mut seen: HashSet<&str> = HashSet::new();
            let small = members.len() <= SMALL_OBJECT;
            for (index, (key, member)) in members.iter().enumerate() {
                let repeated = if small {
                    members[..index].iter().any(|(earlier, _)| earlier == key)
                } else {
                    !seen.insert(key)
                };
                if repeated {
                    found.push((display_location(location), key.to_string()));
                }
                location.push(key);
                walk(member, location, found);
                location.pop();
            }
        }
        Json::Array(items) => {
            for item in items {
                location.push("[]");
                walk(item, location, found);
                location.pop();
            }
        }
        _ => {}
    }
}

fn display_location(location: &[&str]) -> String {
    if location.is_empty() {
        "the top-level object".to_owned()
    } else {
        location.join(".")
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json<'de>, E> {
        Ok(Json::Number)
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        // serde_json gives no size hint: trim the growth slack, since an inventory holds
        // hundreds of thousands of one-path arrays.
        items.shrink_to_fit();
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        members.shrink_to_fit();
        Ok(Json::Object(members))
    }
}

/// An object key, borrowed from the document when it has no escapes. (`Cow<str>`'s own
/// `Deserialize` always copies.) Read by the value visitor, whose string cases borrow alike.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        match deserializer.deserialize_str(JsonVisitor)? {
            Json::String(key) => Ok(Key(key)),
            other => Err(de::Error::invalid_type(
                de::Unexpected::Other(other.kind()),
                &"an object key",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_and_reports_them_with_their_location() {
        let tree =
            parse(r#"{"a": 1, "b": {"c": [{"d": 1, "d": 2}]}, "a": null}"#).expect("valid JSON");
        assert_eq!(tree.get("a"), Some(&Json::Number));
        assert_eq!(
            duplicate_keys(&tree),
            vec![
                ("b.c.[]".to_owned(), "d".to_owned()),
                ("the top-level object".to_owned(), "a".to_owned()),
            ]
        );
    }

    #[test]
    fn finds_duplicates_in_large_objects() {
        let mut members: Vec<String> = (0..20).map(|i| format!("\"k{i}\": {i}")).collect();
        members.push("\"k7\": 0".to_owned());
        let text = format!("{{\"big\": {{{}}}}}", members.join(","));
        let tree = parse(&text).expect("valid JSON");
        assert_eq!(
            duplicate_keys(&tree),
            vec![("big".to_owned(), "k7".to_owned())]
        );
    }

    #[test]
    fn rejects_non_json_and_deep_nesting() {
        for bad in ["", "{", "{\"a\":1,}", "[1] 2", "{'a':1}", "\"\\ud800\""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
    }
}
