//! How replay compares a JSON payload the code produces now with the one history recorded.
//!
//! The rule, so that adding an optional field to an input struct does not fail the runs in
//! flight when the code is upgraded:
//!
//! - both payloads are parsed as JSON (text that does not parse must be byte-identical);
//! - objects match when every member present on **both** sides matches; a member present on
//!   one side only is ignored, whatever its value (an `Option` field added as absent,
//!   `null`, or a default, and likewise a field removed);
//! - arrays match element by element and must have the same length;
//! - any other value (string, number, boolean, `null`) must be equal, and so must the kind:
//!   an object never matches an array or a scalar.
//!
//! The recorded call already ran with the recorded payload, and the code sees the recorded
//! result; a change in what a call *means* (a new field whose value changes the work done)
//! must go through `OrchestrationContext::patched` instead.

use serde_json::Value;

/// True if `produced` (by the code on replay) matches `recorded` (in history) by the rule
/// above.
pub(crate) fn replays_as(produced: &str, recorded: &str) -> bool {
    if produced == recorded {
        return true;
    }
    match (
        serde_json::from_str::<Value>(produced),
        serde_json::from_str::<Value>(recorded),
    ) {
        (Ok(produced), Ok(recorded)) => values_match(&produced, &recorded),
        _ => false,
    }
}

fn values_match(produced: &Value, recorded: &Value) -> bool {
    match (produced, recorded) {
        (Value::Object(produced), Value::Object(recorded)) => {
            produced.iter().all(|(key, value)| {
                recorded
                    .get(key)
                    .is_none_or(|then| values_match(value, then))
            })
        }
        (Value::Array(produced), Value::Array(recorded)) => {
            produced.len() == recorded.len()
                && produced
                    .iter()
                    .zip(recorded)
                    .all(|(now, then)| values_match(now, then))
        }
        (produced, recorded) => produced == recorded,
    }
}

#[cfg(test)]
mod tests {
    use super::replays_as;

    #[test]
    fn members_on_one_side_only_are_ignored() {
        assert!(replays_as(r#"{"a":1,"b":null}"#, r#"{"a":1}"#));
        assert!(replays_as(r#"{"a":1}"#, r#"{"a":1,"b":true}"#));
        assert!(replays_as(r#"{"x":{"a":1,"new":0}}"#, r#"{"x":{"a":1}}"#));
        assert!(replays_as(r#"[{"a":1,"new":[]}]"#, r#"[{"a":1}]"#));
    }

    #[test]
    fn shared_members_arrays_and_scalars_must_match() {
        assert!(!replays_as(r#"{"a":2}"#, r#"{"a":1}"#));
        assert!(!replays_as(r#"{"a":null}"#, r#"{"a":1}"#));
        assert!(!replays_as("[1,2]", "[1]"));
        assert!(!replays_as("[1]", r#"{"0":1}"#));
        assert!(!replays_as(r#""a""#, r#""b""#));
        assert!(!replays_as("1", "1.0"));
        assert!(!replays_as("not json", "not json either"));
        assert!(replays_as("not json", "not json"));
        assert!(replays_as(" 1", "1"));
    }
}
