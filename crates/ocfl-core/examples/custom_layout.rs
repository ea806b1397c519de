//! An institution's own storage layout (the request of ocfl-py #152), registered so that
//! roots using it open like any other: `cargo run -p ocfl-core --example custom_layout`.
//!
//! The layout keeps objects whose ids look like `PREFIX` + a number in directories of
//! thousands: `inst:1234567` lives in `objects/1234/1234567`. Its one parameter, the id
//! prefix, is kept in `extensions/example-institution-layout/config.json`.

use std::sync::Arc;

use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::{Layout, LayoutError, LayoutRegistry, StorageLayout};
use ocfl_core::object::StorageRoot;
use ocfl_core::storage::LocalStorage;
use serde::{Deserialize, Serialize};

const NAME: &str = "example-institution-layout";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InstitutionLayout {
    #[serde(rename = "extensionName")]
    extension_name: String,
    prefix: String,
}

impl StorageLayout for InstitutionLayout {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> &str {
        "Numbered ids in directories of thousands: PREFIX1234567 is objects/1234/1234567."
    }

    fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        let number = id
            .strip_prefix(&self.prefix)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| LayoutError::UnmappableId {
                extension: NAME.to_owned(),
                id: id.to_owned(),
                reason: format!("not {}NUMBER", self.prefix),
            })?;
        let thousands = &number[..number.len().saturating_sub(3).max(1)];
        Ok(format!("objects/{thousands}/{number}"))
    }

    fn config_file(&self) -> Option<Vec<u8>> {
        serde_json::to_vec_pretty(self).ok()
    }
}

/// Builds the layout from the root's `config.json`.
fn from_config(config: Option<&[u8]>) -> Result<Arc<dyn StorageLayout>, LayoutError> {
    let invalid = |reason: String| LayoutError::InvalidConfig {
        extension: NAME.to_owned(),
        reason,
    };
    let bytes = config.ok_or_else(|| invalid("config.json is required".to_owned()))?;
    let layout: InstitutionLayout =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    Ok(Arc::new(layout))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let storage = LocalStorage::new(dir.path().join("root"));

    // A new root with the layout: ocfl_layout.json and its config.json are written as for a
    // built-in extension.
    let layout = Layout::custom(InstitutionLayout {
        extension_name: NAME.to_owned(),
        prefix: "inst:".to_owned(),
    });
    let options = InitOptions {
        layout: Some(layout),
        ..InitOptions::default()
    };
    init_storage_root(&storage, &options)?;

    // Without the registration, the root's layout is unknown.
    assert!(StorageRoot::open(&storage).is_err());

    // With it, the root opens and ids map through the layout.
    let mut layouts = LayoutRegistry::new();
    layouts.register(NAME, from_config)?;
    let root = StorageRoot::open_with_layouts(&storage, &layouts)?;
    let path = root.object_path("inst:1234567")?;
    assert_eq!(path, "objects/1234/1234567");
    println!("inst:1234567 -> {path}");
    Ok(())
}
