//! Untimed checks of what a tool committed: our validator's verdict on the storage root,
//! and whether the object's head state is exactly the v2 source (every path, every sha512).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use ocfl_plan::stage::{Stage, StageOptions};
use serde_json::Value;

use super::measure::tail;
use super::tools::OBJECT_ID;
use crate::bench::generate::object_root_path;

/// Logical path -> lower-case sha512 hex.
pub type State = BTreeMap<String, String>;

/// The sha512 of every file of a source tree, as the head state should hold them.
pub fn expected_state(source: &Path) -> anyhow::Result<State> {
    let stage = Stage::from_directory(source, &StageOptions::default())
        .with_context(|| format!("hashing {}", source.display()))?;
    Ok(stage
        .files()
        .iter()
        .map(|(logical, file)| (logical.to_string(), file.digest.to_string().to_lowercase()))
        .collect())
}

/// The verdicts on one storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `ocfl validate` exited 0.
    pub valid: bool,
    /// The head is `head` and its state is the expected one.
    pub state_matches: bool,
    /// Why not, when either is false.
    pub detail: String,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.valid && self.state_matches
    }
}

/// Validates `root` with our `ocfl` and compares the object's state at its head with
/// `expected` (the head must be `head`). The object is where layout 0004 with its defaults
/// puts it, the layout both `ocfl init` and `rocfl init` choose by default.
pub fn check_root(
    ocfl: &Path,
    root: &Path,
    head: &str,
    expected: &State,
) -> anyhow::Result<Verdict> {
    let output = Command::new(ocfl)
        .arg("--root")
        .arg(root)
        .arg("validate")
        .output()
        .with_context(|| format!("running {} validate", ocfl.display()))?;
    let valid = output.status.success();
    let mut detail = String::new();
    if !valid {
        detail = format!(
            "ocfl validate exited {}: {}{}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout), 10),
            tail(&String::from_utf8_lossy(&output.stderr), 5)
        );
    }
    let inventory = root
        .join(object_root_path(OBJECT_ID))
        .join("inventory.json");
    let state_matches = match head_state(&inventory) {
        Ok((found_head, state)) => {
            let mismatch = describe_mismatch(head, expected, &found_head, &state);
            if let Some(why) = &mismatch {
                detail.push_str(why);
            }
            mismatch.is_none()
        }
        Err(e) => {
            detail.push_str(&format!("{e:#}"));
            false
        }
    };
    Ok(Verdict {
        valid,
        state_matches,
        detail,
    })
}

/// The head version and its state (path -> digest) from an inventory file.
pub fn head_state(inventory: &Path) -> anyhow::Result<(String, State)> {
    let text = std::fs::read_to_string(inventory)
        .with_context(|| format!("reading {}", inventory.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", inventory.display()))?;
    parse_head_state(&value).with_context(|| format!("no head state in {}", inventory.display()))
}

/// Whether an inventory's text has head `head` and exactly the `expected` state: `None` when
/// it has, else why not.
pub fn inventory_mismatch(text: &[u8], head: &str, expected: &State) -> Option<String> {
    let value: Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        Err(e) => return Some(format!("the inventory is not JSON: {e}")),
    };
    match parse_head_state(&value) {
        Some((found_head, state)) => describe_mismatch(head, expected, &found_head, &state),
        None => Some("the inventory has no head state".into()),
    }
}

fn parse_head_state(inventory: &Value) -> Option<(String, State)> {
    let head = inventory["head"].as_str()?;
    let mut state = State::new();
    for (digest, paths) in inventory["versions"][head]["state"].as_object()? {
        for path in paths.as_array()? {
            state.insert(path.as_str()?.to_string(), digest.to_lowercase());
        }
    }
    Some((head.to_string(), state))
}

/// What differs, briefly; `None` when nothing does.
fn describe_mismatch(
    expected_head: &str,
    expected: &State,
    head: &str,
    state: &State,
) -> Option<String> {
    if head != expected_head {
        return Some(format!("head is {head}, expected {expected_head}"));
    }
    if state == expected {
        return None;
    }
    let missing = expected.keys().filter(|p| !state.contains_key(*p)).count();
    let extra = state.keys().filter(|p| !expected.contains_key(*p)).count();
    let different = expected
        .iter()
        .filter(|(p, d)| state.get(*p).is_some_and(|found| found != *d))
        .count();
    Some(format!(
        "head state differs from the source: {missing} missing, {extra} extra, {different} with other content"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_head_state_is_read_path_by_path() {
        let inventory = json!({
            "head": "v2",
            "versions": {
                "v1": {"state": {"AA": ["old"]}},
                "v2": {"state": {"AA": ["a", "b/c"], "bb": ["d"]}}
            }
        });
        let (head, state) = parse_head_state(&inventory).unwrap();
        assert_eq!(head, "v2");
        let expected: State = [("a", "aa"), ("b/c", "aa"), ("d", "bb")]
            .into_iter()
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .collect();
        assert_eq!(state, expected);
        assert_eq!(describe_mismatch("v2", &expected, &head, &state), None);
        assert!(parse_head_state(&json!({"head": "v3", "versions": {}})).is_none());
        let text = serde_json::to_vec(&inventory).unwrap();
        assert_eq!(inventory_mismatch(&text, "v2", &expected), None);
        assert!(inventory_mismatch(&text, "v1", &expected).is_some());
        assert!(inventory_mismatch(b"{", "v2", &expected).is_some());
    }

    #[test]
    fn mismatches_are_counted() {
        let expected: State = [("a", "1"), ("b", "2"), ("c", "3")]
            .into_iter()
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .collect();
        let mut found = expected.clone();
        found.remove("a");
        found.insert("b".into(), "9".into());
        found.insert("z".into(), "4".into());
        let why = describe_mismatch("v2", &expected, "v2", &found).unwrap();
        assert!(
            why.contains("1 missing, 1 extra, 1 with other content"),
            "{why}"
        );
        assert!(
            describe_mismatch("v2", &expected, "v1", &expected)
                .unwrap()
                .contains("head is v1")
        );
    }

    #[test]
    fn the_expected_state_is_the_sha512_of_every_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/x"), "abc").unwrap();
        let state = expected_state(dir.path()).unwrap();
        // sha512("abc"), FIPS 180-2 appendix C.
        assert_eq!(
            state["d/x"],
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(state.len(), 1);
    }
}
