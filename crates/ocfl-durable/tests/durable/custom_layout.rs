//! A storage root whose layout is an institution's own (`ocfl_core::layout::StorageLayout`,
//! registered in a `LayoutRegistry`): commits place objects where it says, and without the
//! registration the root is refused before anything is written.

use std::sync::Arc;

use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::{Layout, LayoutError, LayoutRegistry, StorageLayout};
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_durable::{CommitRequest, check_request};

use crate::support::{Fixture, tuning};

const NAME: &str = "test-shelf-layout";

/// `shelf:NAME` lives in `shelves/NAME`.
#[derive(Debug)]
struct Shelves;

impl StorageLayout for Shelves {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> &str {
        "Ids shelf:NAME live in shelves/NAME."
    }

    fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        id.strip_prefix("shelf:")
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .map(|name| format!("shelves/{name}"))
            .ok_or_else(|| LayoutError::UnmappableId {
                extension: NAME.to_owned(),
                id: id.to_owned(),
                reason: "not shelf:NAME".to_owned(),
            })
    }
}

fn layouts() -> LayoutRegistry {
    let mut layouts = LayoutRegistry::new();
    layouts
        .register(NAME, |_| Ok(Arc::new(Shelves)))
        .expect("register");
    layouts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_use_a_registered_layout() {
    let fx = Fixture::new();
    std::fs::remove_dir_all(&fx.root).expect("clear root");
    let options = InitOptions {
        layout: Some(Layout::custom(Shelves)),
        ..InitOptions::default()
    };
    init_storage_root(&LocalStorage::new(&fx.root), &options).expect("init");
    let source = fx.source("deposit", &[("a.txt", b"a")]);
    let request = CommitRequest::new("shelf:one", &source);

    // Unregistered, the root's layout is unknown: refused before any run exists.
    let refused = check_request(&fx.env(), &request).expect_err("unknown layout");
    assert!(refused.to_string().contains(NAME), "{refused}");

    let env = fx.env().with_layouts(layouts());
    check_request(&env, &request).expect("registered layout");
    let service = fx.service(tuning());
    let worker = fx.worker(env);
    let outcome = service.commit(&request).await.expect("commit");
    assert_eq!(outcome.version, "v1");
    let report = validate_object(
        &LocalStorage::new(&fx.root),
        "shelves/one",
        &ValidationOptions::default(),
    );
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.id.as_deref(), Some("shelf:one"));
    worker.shutdown().await;
}
