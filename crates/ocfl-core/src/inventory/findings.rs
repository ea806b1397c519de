//! The findings collected while parsing one inventory.

use crate::SpecVersion;
use crate::validate::{Code, Finding};

/// Collects findings; knows the inventory's specification version so that checks can use the
/// code that version defines (1.1 added specific codes such as E104-E111 for defects 1.0
/// reported under broader ones).
pub(super) struct Findings {
    pub(super) list: Vec<Finding>,
    pub(super) spec: SpecVersion,
}

impl Findings {
    pub(super) fn new() -> Findings {
        Findings {
            list: Vec::new(),
            spec: SpecVersion::LATEST,
        }
    }

    pub(super) fn add(&mut self, code: Code, message: impl Into<String>) {
        self.list.push(Finding::new(code, message));
    }

    /// `in_1_1` for OCFL 1.1 inventories, `in_1_0` for 1.0 ones.
    pub(super) fn by_version(&self, in_1_1: Code, in_1_0: Code) -> Code {
        match self.spec {
            SpecVersion::V1_0 => in_1_0,
            SpecVersion::V1_1 => in_1_1,
        }
    }

    /// Reports E102 for every key of `members` not in `allowed`.
    pub(super) fn unknown_keys(
        &mut self,
        members: &[(&str, super::json::Json<'_>)],
        allowed: &[&str],
        location: &str,
    ) {
        for (key, _) in members {
            if !allowed.contains(key) {
                self.add(
                    Code::E102,
                    format!("{location} has a key {key:?} that the specification does not define"),
                );
            }
        }
    }
}
