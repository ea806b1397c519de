//! One line per step for people: what a step does, in the object's own terms
//! (`write 0=ocfl_object_1.1`, `copy v1/content/a.txt`, `write v1/inventory.json`) rather
//! than the work-area paths it touches.

use ocfl_core::namaste::Declaration;
use ocfl_core::sidecar::INVENTORY_FILE;

use super::{Action, Contents, Plan, Step};

impl Plan {
    /// A short description of `step` (one of this plan's), for progress displays.
    pub fn describe(&self, step: &Step) -> String {
        let version = self.version.to_string();
        // The inventory and sidecar are written twice: into the version directory and (for
        // the root) prepared beside it; the step id says which.
        let in_version = |name: &str| match step.id.starts_with("version-") {
            true => format!("{version}/{name}"),
            false => name.to_owned(),
        };
        match &step.action {
            Action::CheckBase => match self.base {
                Some(_) => "check the object is unchanged".to_owned(),
                None => "check the object's path is free".to_owned(),
            },
            Action::CreateDir { .. } => format!("version directory {version}"),
            Action::Copy { .. } => step.id.clone(),
            Action::Flush { .. } => format!("flush {version} content to disk"),
            Action::Write { contents, .. } => {
                format!("write {}", in_version(&self.file_name(*contents)))
            }
            Action::MoveIn { .. } => match self.base {
                Some(_) => format!("move {version} into the object"),
                None => "move the object into place".to_owned(),
            },
            Action::Install { contents, .. } => format!("install {}", self.file_name(*contents)),
            Action::Remove { path } => {
                format!("remove {}", path.rsplit('/').next().unwrap_or(path))
            }
            Action::Cleanup { .. } => "remove the work directory".to_owned(),
            Action::Claim { .. } => format!("claim {version} (write {version}/{INVENTORY_FILE})"),
            Action::Put { contents, .. } => {
                format!("write {}", in_version(&self.file_name(*contents)))
            }
            Action::Upload { .. } => step.id.clone(),
            Action::Commit { .. } => format!("commit {INVENTORY_FILE}"),
            Action::CommitSidecar { .. } => format!("write {}", self.sidecar_name()),
        }
    }

    /// The object-root name of a small file.
    fn file_name(&self, contents: Contents) -> String {
        match contents {
            Contents::Inventory => INVENTORY_FILE.to_owned(),
            Contents::Sidecar => self.sidecar_name(),
            Contents::Declaration => Declaration::object(self.spec_version).file_name(),
        }
    }
}
