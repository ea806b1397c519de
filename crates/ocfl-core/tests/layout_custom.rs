//! Layouts of an integrator's own: through `StorageLayout` and `LayoutRegistry` they are
//! written, read back and used like the built-in extensions, and what they could get wrong
//! (a path leaving the root, a name clash) is refused.

use std::sync::Arc;

use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::{Layout, LayoutError, LayoutRegistry, StorageLayout};
use ocfl_core::object::{ObjectError, StorageRoot};
use ocfl_core::storage::LocalStorage;

/// Maps every id to a fixed path: enough to show what is done with the path.
#[derive(Debug)]
struct Fixed(&'static str, &'static str);

impl StorageLayout for Fixed {
    fn name(&self) -> &str {
        self.0
    }

    fn description(&self) -> &str {
        "every id at one path"
    }

    fn map_object_id(&self, _id: &str) -> Result<String, LayoutError> {
        Ok(self.1.to_owned())
    }

    fn config_file(&self) -> Option<Vec<u8>> {
        Some(
            format!(
                "{{\"extensionName\": \"{}\", \"path\": \"{}\"}}\n",
                self.0, self.1
            )
            .into_bytes(),
        )
    }
}

#[test]
fn built_in_layouts_answer_through_the_trait() {
    for name in ocfl_core::layout::EXTENSION_NAMES {
        let config = (name == "0006-flat-omit-prefix-storage-layout")
            .then_some(&br#"{"delimiter": ":"}"#[..]);
        let layout = Layout::from_config(name, config).expect("built-in");
        let through: &dyn StorageLayout = layout.as_storage_layout();
        assert_eq!(through.name(), name);
        assert_eq!(
            through.map_object_id("ark:abc").ok(),
            layout.map_object_id("ark:abc").ok(),
            "{name}"
        );
        assert_eq!(through.config_file(), layout.config_file());
    }
}

#[test]
fn a_custom_layout_is_written_and_read_back_through_a_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path().join("root"));
    let layout = Layout::custom(Fixed("local-fixed", "objects/the-one"));
    let options = InitOptions {
        layout: Some(layout.clone()),
        ..InitOptions::default()
    };
    init_storage_root(&storage, &options).expect("init");
    let config = std::fs::read(dir.path().join("root/extensions/local-fixed/config.json"))
        .expect("config.json written");
    assert!(String::from_utf8_lossy(&config).contains("objects/the-one"));

    // Unregistered: the root's layout is not one this crate knows.
    match StorageRoot::open(&storage) {
        Err(ObjectError::RootLayout(LayoutError::Unsupported(name))) => {
            assert_eq!(name, "local-fixed")
        }
        other => panic!("expected an unsupported layout, got {other:?}"),
    }
    let mut layouts = LayoutRegistry::new();
    layouts
        .register("local-fixed", |config| {
            let config = config.expect("the root's config.json is handed over");
            let value: serde_json::Value = serde_json::from_slice(config).expect("json");
            let path = value["path"].as_str().expect("path").to_owned();
            Ok(Arc::new(Fixed(
                "local-fixed",
                Box::leak(path.into_boxed_str()),
            )))
        })
        .expect("register");
    let root = StorageRoot::open_with_layouts(&storage, &layouts).expect("open");
    assert_eq!(root.layout(), Some(&layout));
    assert_eq!(root.object_path("any").expect("mapped"), "objects/the-one");
}

#[test]
fn a_custom_layout_cannot_map_outside_the_root() {
    for path in ["../elsewhere", "/etc", "a/../../b", "", "a//b"] {
        let layout = Layout::custom(Fixed("local-escape", path));
        match layout.map_object_id("x") {
            Err(LayoutError::UnmappableId { extension, .. }) => {
                assert_eq!(extension, "local-escape")
            }
            other => panic!("{path:?}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn registrations_that_would_clash_are_refused() {
    let mut layouts = LayoutRegistry::new();
    let factory = |_: Option<&[u8]>| -> Result<Arc<dyn StorageLayout>, LayoutError> {
        Ok(Arc::new(Fixed("local-a", "a")))
    };
    for name in ["0004-hashed-n-tuple-storage-layout", "", "..", "a/b"] {
        assert!(layouts.register(name, factory).is_err(), "{name:?}");
    }
    layouts.register("local-a", factory).expect("register");
    assert!(layouts.register("local-a", factory).is_err(), "twice");
    // A factory building a layout of another name is refused when the root is opened.
    layouts.register("local-b", factory).expect("register");
    assert!(matches!(
        layouts.from_config("local-b", None),
        Err(LayoutError::InvalidConfig { .. })
    ));
}
