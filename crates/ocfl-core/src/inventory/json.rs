//! A JSON value tree that keeps every object member, duplicates included, in document order.
//!
//! `serde_json::Value` silently keeps the last of two equal keys, which would hide an E033
//! defect (and let the two readers of one inventory disagree about its content). Parsing into
//! this tree keeps both members so [`duplicate_keys`] can report them; lookups with
//! [`Json::get`] return the first.
//!
//! Strings borrow from the document wherever it holds them verbatim (no escapes), and from an
//! arena that lives as long as the document otherwise: a large inventory is mostly digests and
//! paths, so an owned tree would double its size in memory. Because no string borrows from the
//! tree itself, the parser can [`take`](Json::take) a block out of the tree, build its part of
//! the inventory and drop that block before the next, so the whole tree and the whole
//! inventory are never held at once. Containers are boxed slices (16 bytes, no spare
//! capacity), keeping a node at 24 bytes.

use bumpalo::Bump;
use foldhash::{HashSet, HashSetExt};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool,
    Number,
    String(&'a str),
    Array(Box<[Json<'a>]>),
    /// Members in document order; keys may repeat.
    Object(Box<[(&'a str, Json<'a>)]>),
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
            Json::Object(members) => members.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Moves the first member named `key` out of `self` (when an object), leaving `null` in
    /// its place, so that the caller can drop it as soon as it is read.
    pub(crate) fn take(&mut self, key: &str) -> Option<Json<'a>> {
        match self {
            Json::Object(members) => members
                .iter_mut()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| std::mem::replace(v, Json::Null)),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(&'a str, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }
}

/// Parses `text` (already known to be UTF-8) into a tree whose strings that needed unescaping
/// live in `arena`. serde_json enforces RFC 8259 syntax (no trailing commas, comments or
/// trailing data, valid escapes, no lone surrogates) and a nesting limit, so hostile input
/// ends in an error, never a stack overflow.
pub(crate) fn parse<'a>(text: &'a str, arena: &'a Bump) -> Result<Json<'a>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let tree = JsonSeed { arena }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(tree)
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

fn walk<'a>(value: &Json<'a>, location: &mut Vec<&'a str>, found: &mut Vec<(String, String)>) {
    match value {
        Json::Object(members) => {
            // Most objects (version blocks, users) are tiny: compare those directly. Large
            // ones (manifest, states) are usually written in ascending key order, which has
            // no repeat and is checked pair by pair; from the first key out of order on, the
            // keys are hashed (those before it included), keeping the check linear. Hashing a
            // million digests whose set outgrows the caches cost more than reading them.
            let mut seen: Option<HashSet<&str>> = None;
            let small = members.len() <= SMALL_OBJECT;
            for (index, (key, member)) in members.iter().enumerate() {
                let repeated = if small {
                    members[..index].iter().any(|(earlier, _)| earlier == key)
                } else {
                    match &mut seen {
                        Some(seen) => !seen.insert(key),
                        None => match index.checked_sub(1).map(|i| members[i].0) {
                            Some(previous) if previous >= *key => {
                                // Ascending so far, hence all distinct.
                                let mut set = HashSet::with_capacity(members.len());
                                set.extend(members[..index].iter().map(|(k, _)| *k));
                                let repeated = !set.insert(key);
                                seen = Some(set);
                                repeated
                            }
                            _ => false,
                        },
                    }
                };
                if repeated {
                    found.push((display_location(location), (*key).to_owned()));
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

/// Deserializes one value, copying strings that had escapes into the arena. (`Cow<str>`'s
/// own `Deserialize` always copies, and an owned string could not outlive its tree node.)
#[derive(Clone, Copy)]
struct JsonSeed<'a> {
    arena: &'a Bump,
}

impl<'a> DeserializeSeed<'a> for JsonSeed<'a> {
    type Value = Json<'a>;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Json<'a>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for JsonSeed<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json<'a>, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Json<'a>, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json<'a>, E> {
        Ok(Json::Number)
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'a str) -> Result<Json<'a>, E> {
        Ok(Json::String(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json<'a>, E> {
        Ok(Json::String(self.arena.alloc_str(s)))
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Json::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            let value = map.next_value_seed(self)?;
            members.push((key, value));
        }
        Ok(Json::Object(members.into_boxed_slice()))
    }
}

/// An object key, read like a string value.
struct KeySeed<'a>(JsonSeed<'a>);

impl<'a> DeserializeSeed<'a> for KeySeed<'a> {
    type Value = &'a str;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<&'a str, D::Error> {
        match deserializer.deserialize_str(self.0)? {
            Json::String(key) => Ok(key),
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
        let arena = Bump::new();
        let tree = parse(
            r#"{"a": 1, "b": {"c": [{"d": 1, "d": 2}]}, "a": null}"#,
            &arena,
        )
        .expect("valid JSON");
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
        let arena = Bump::new();
        let tree = parse(&text, &arena).expect("valid JSON");
        assert_eq!(
            duplicate_keys(&tree),
            vec![("big".to_owned(), "k7".to_owned())]
        );
    }

    /// Large objects in ascending key order are checked pair by pair, and hashed from the
    /// first key out of order: every repeat is found either way, once per extra occurrence.
    #[test]
    fn finds_every_repeat_in_sorted_and_partly_sorted_large_objects() {
        let ascending: Vec<String> = (10..30).map(|i| format!("k{i}")).collect();
        let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
            (ascending.clone(), vec![]),
            // A repeat next to its first occurrence, still in order.
            ([&ascending[..5], &ascending[4..]].concat(), vec!["k14"]),
            // A repeat of an earlier key after many in order, then more.
            (
                [
                    &ascending[..],
                    &["k12".to_owned(), "k29".to_owned(), "k30".to_owned()],
                ]
                .concat(),
                vec!["k12", "k29"],
            ),
            // The first key out of order is new; a later key repeats one before it.
            (
                [&ascending[..10], &["a".to_owned()], &ascending[3..4]].concat(),
                vec!["k13"],
            ),
        ];
        for (keys, expected) in cases {
            let members: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 1")).collect();
            let text = format!("{{\"big\": {{{}}}}}", members.join(","));
            let arena = Bump::new();
            let tree = parse(&text, &arena).expect("valid JSON");
            let found: Vec<(String, String)> = duplicate_keys(&tree);
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|k| ("big".to_owned(), (*k).to_owned()))
                .collect();
            assert_eq!(found, expected, "{keys:?}");
        }
    }

    #[test]
    fn unescaped_strings_live_in_the_arena_and_others_in_the_text() {
        let text = r#"{"plain": "a/b", "k\u0065y": "tab\there"}"#;
        let arena = Bump::new();
        let tree = parse(text, &arena).expect("valid JSON");
        let members = tree.as_object().expect("an object");
        assert_eq!(members[0], ("plain", Json::String("a/b")));
        assert_eq!(members[1], ("key", Json::String("tab\there")));
        let text_range = text.as_bytes().as_ptr_range();
        assert!(text_range.contains(&members[0].0.as_ptr()));
        assert!(!text_range.contains(&members[1].0.as_ptr()));
        assert!(arena.allocated_bytes() > 0);
    }

    #[test]
    fn take_moves_the_first_member_out_and_leaves_null() {
        let arena = Bump::new();
        let mut tree = parse(r#"{"a": [1], "a": "second"}"#, &arena).expect("valid JSON");
        assert_eq!(tree.take("a"), Some(Json::Array(Box::new([Json::Number]))));
        assert_eq!(tree.get("a"), Some(&Json::Null));
        assert_eq!(tree.take("missing"), None);
        assert_eq!(Json::Number.take("a"), None);
    }

    #[test]
    fn rejects_non_json_and_deep_nesting() {
        for bad in ["", "{", "{\"a\":1,}", "[1] 2", "{'a':1}", "\"\\ud800\""] {
            assert!(parse(bad, &Bump::new()).is_err(), "{bad}");
        }
        let deep = "[".repeat(100_000);
        assert!(parse(&deep, &Bump::new()).is_err());
    }
}
