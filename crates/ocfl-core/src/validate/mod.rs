//! Validation of OCFL objects and storage roots. Every finding carries the specification's
//! code; validation collects all findings instead of stopping at the first.

mod code;
mod object;
mod registered_extensions;
mod report;
mod root;

pub use code::{Code, Finding, Severity};
pub use object::{RootInventory, validate_object, validate_object_keeping_root};
pub use report::{ObjectReport, RootReport, ValidationOptions};
pub use root::validate_storage_root;
