//! [`LayoutRegistry`]: the layouts a storage root's `ocfl_layout.json` may name, the
//! built-in extensions and any an integrator registers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{EXTENSION_NAMES, Layout, LayoutError, StorageLayout, root_files};
use crate::storage::Storage;

/// Builds a registered layout from its `config.json` bytes (`None`: the root has none).
pub type LayoutFactory =
    dyn Fn(Option<&[u8]>) -> Result<Arc<dyn StorageLayout>, LayoutError> + Send + Sync;

/// The layouts this crate can open roots with: the built-in extensions, and the
/// institution's own registered with [`LayoutRegistry::register`].
///
/// ```
/// use std::sync::Arc;
/// use ocfl_core::layout::{LayoutError, LayoutRegistry, StorageLayout};
///
/// /// Ids like `inst:1234` live in `objects/1234`.
/// #[derive(Debug)]
/// struct Institutional;
///
/// impl StorageLayout for Institutional {
///     fn name(&self) -> &str { "example-institutional-layout" }
///     fn description(&self) -> &str { "Ids without their inst: prefix, below objects/." }
///     fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
///         id.strip_prefix("inst:")
///             .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
///             .map(|n| format!("objects/{n}"))
///             .ok_or_else(|| LayoutError::UnmappableId {
///                 extension: self.name().to_owned(),
///                 id: id.to_owned(),
///                 reason: "not inst:DIGITS".to_owned(),
///             })
///     }
/// }
///
/// let mut layouts = LayoutRegistry::new();
/// layouts.register("example-institutional-layout", |_config| Ok(Arc::new(Institutional))).unwrap();
/// let layout = layouts.from_config("example-institutional-layout", None).unwrap();
/// assert_eq!(layout.map_object_id("inst:1234").unwrap(), "objects/1234");
/// ```
#[derive(Clone, Default)]
pub struct LayoutRegistry {
    custom: BTreeMap<String, Arc<LayoutFactory>>,
}

impl fmt::Debug for LayoutRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayoutRegistry")
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LayoutRegistry {
    /// The built-in layouts only.
    pub fn new() -> LayoutRegistry {
        LayoutRegistry::default()
    }

    /// Registers the layout `name`, built by `factory` from its `config.json`. Refused
    /// (as [`LayoutError::InvalidConfig`]) for a built-in extension's name, a name already
    /// registered, and a name that is not one path element (it names the layout's
    /// `extensions/NAME/` directory).
    pub fn register(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn(Option<&[u8]>) -> Result<Arc<dyn StorageLayout>, LayoutError>
        + Send
        + Sync
        + 'static,
    ) -> Result<&mut LayoutRegistry, LayoutError> {
        let name = name.into();
        let refuse = |reason: &str| LayoutError::InvalidConfig {
            extension: name.clone(),
            reason: reason.to_owned(),
        };
        if EXTENSION_NAMES.contains(&name.as_str()) {
            return Err(refuse("is a built-in layout extension"));
        }
        if self.custom.contains_key(&name) {
            return Err(refuse("is registered already"));
        }
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.len() > 255
            || name.contains(['/', '\\', '\0'])
        {
            return Err(refuse("is not a directory name"));
        }
        self.custom.insert(name, Arc::new(factory));
        Ok(self)
    }

    /// Whether a root naming `name` in its `ocfl_layout.json` can be opened.
    pub fn knows(&self, name: &str) -> bool {
        EXTENSION_NAMES.contains(&name) || self.custom.contains_key(name)
    }

    /// The layout `name` configured by `config`: a built-in ([`Layout::from_config`]) or a
    /// registered one, whose name must be the one it was registered under.
    pub fn from_config(&self, name: &str, config: Option<&[u8]>) -> Result<Layout, LayoutError> {
        let Some(factory) = self.custom.get(name) else {
            return Layout::from_config(name, config);
        };
        let layout = factory(config)?;
        if layout.name() != name {
            return Err(LayoutError::InvalidConfig {
                extension: name.to_owned(),
                reason: format!("its factory built the layout {:?}", layout.name()),
            });
        }
        layout.validate()?;
        Ok(Layout::Custom(layout))
    }

    /// Reads `ocfl_layout.json` and the extension's config from a storage root, with the
    /// layouts of this registry; `None` when the root has no `ocfl_layout.json`.
    pub fn read_from_root(&self, storage: &dyn Storage) -> Result<Option<Layout>, LayoutError> {
        root_files::read(storage, self)
    }
}
