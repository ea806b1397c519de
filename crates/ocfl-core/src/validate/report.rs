//! What validation returns.

use super::code::{Code, Finding, Severity};

/// How thoroughly to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationOptions {
    /// Recompute every content file's digest and every fixity value (on by default).
    pub check_fixity: bool,
}

impl Default for ValidationOptions {
    fn default() -> ValidationOptions {
        ValidationOptions { check_fixity: true }
    }
}

/// The findings for one object (or, in a [`RootReport`], for the storage root itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectReport {
    /// Path of the object root, relative to the storage it was validated in.
    pub path: String,
    /// The object id from its inventory, when one could be read.
    pub id: Option<String>,
    /// All errors found.
    pub errors: Vec<Finding>,
    /// All warnings found.
    pub warnings: Vec<Finding>,
}

impl ObjectReport {
    /// An empty report for `path`.
    pub fn new(path: impl Into<String>) -> ObjectReport {
        ObjectReport {
            path: path.into(),
            ..ObjectReport::default()
        }
    }

    /// Records a finding under errors or warnings according to its code.
    pub fn add(&mut self, code: Code, message: impl Into<String>) {
        self.push(Finding::new(code, message));
    }

    /// Records an existing finding.
    pub fn push(&mut self, finding: Finding) {
        match finding.severity() {
            Severity::Error => self.errors.push(finding),
            Severity::Warning => self.warnings.push(finding),
        }
    }

    /// Valid means no errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether any finding (error or warning) has `code`.
    pub fn has(&self, code: Code) -> bool {
        self.errors
            .iter()
            .chain(&self.warnings)
            .any(|f| f.code == code)
    }
}

/// The findings for a whole storage root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootReport {
    /// Findings about the storage root itself (declaration, layout, hierarchy, extensions);
    /// its `path` is the empty string (the root).
    pub root: ObjectReport,
    /// One report per object found, in path order.
    pub objects: Vec<ObjectReport>,
}

impl RootReport {
    /// Valid when the root and every object have no errors.
    pub fn is_valid(&self) -> bool {
        self.root.is_valid() && self.objects.iter().all(ObjectReport::is_valid)
    }
}
