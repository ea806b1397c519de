//! Where a durable command works: a local storage root and its work area, or (with the `s3`
//! feature) a root in a bucket, with its default engine store under the user's state
//! directory (`ocfl_core::location::s3_state_dir`, keyed by endpoint, bucket and prefix).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ocfl_core::location::{LocalWorkArea, STORE_FILE};
use ocfl_durable::{Environment, ServiceOptions, UpdateService};

/// The root a durable command updates and where its work and run data go.
#[derive(Clone)]
pub enum Site {
    /// A local storage root and its work area.
    Local(LocalWorkArea),
    /// A storage root in a bucket.
    #[cfg(feature = "s3")]
    S3(s3::S3Site),
}

impl Site {
    /// The embedded store's file when `--state` does not name one.
    pub fn default_store(&self) -> PathBuf {
        match self {
            Site::Local(work) => work.default_store(),
            #[cfg(feature = "s3")]
            Site::S3(site) => site.state.join(STORE_FILE),
        }
    }

    /// Where runs keep their data with a store that has no directory of its own (PostgreSQL).
    pub fn area_path(&self) -> PathBuf {
        match self {
            Site::Local(work) => work.area_path(),
            #[cfg(feature = "s3")]
            Site::S3(site) => site.state.clone(),
        }
    }

    /// The root as runs record it and messages show it.
    pub fn name(&self) -> String {
        match self {
            Site::Local(work) => work.root_path().display().to_string(),
            #[cfg(feature = "s3")]
            Site::S3(site) => site.location.to_string(),
        }
    }

    /// The activities' environment, keeping run data below `state_dir`.
    pub fn environment(&self, state_dir: &std::path::Path) -> Environment {
        match self {
            Site::Local(work) => Environment::at(work, state_dir),
            #[cfg(feature = "s3")]
            Site::S3(site) => site.environment(state_dir),
        }
    }

    /// The update service of the root on `backend`.
    pub fn service(&self, backend: Arc<dyn durable_core::Backend>) -> Result<UpdateService> {
        match self {
            Site::Local(work) => {
                let root = work.root_path();
                UpdateService::new(backend, &root, ServiceOptions::default())
                    .with_context(|| format!("storage root {}", root.display()))
            }
            #[cfg(feature = "s3")]
            Site::S3(site) => Ok(UpdateService::for_location(
                backend,
                &site.location.to_string(),
                ServiceOptions::default(),
            )),
        }
    }
}

#[cfg(feature = "s3")]
pub mod s3 {
    //! A root in a bucket.

    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use anyhow::{Context, Result, bail};
    use ocfl_core::location::{
        Location, S3Location, s3_endpoint, s3_state_dir, s3_work_area, state_home,
    };
    use ocfl_core::storage::parent;
    use ocfl_durable::Environment;
    use ocfl_object_store::{ObjectStorage, S3Builder};

    /// The storage root `s3://BUCKET/P`, written through a store over `P`'s parent prefix so
    /// that the root (`NAME`) and its sibling work area (`NAME.ocfl-work`) are both in it.
    #[derive(Clone)]
    pub struct S3Site {
        /// The root.
        pub location: S3Location,
        /// The root itself.
        pub root: ObjectStorage,
        base: ObjectStorage,
        name: String,
        work_dir: String,
        /// The default engine store's directory, and where runs keep their data.
        pub state: PathBuf,
    }

    impl S3Site {
        /// The site of `location`, with the work area `explicit` (only the default sibling
        /// prefix is supported) and run data in `state` (default: the user's state directory).
        pub fn new(
            location: &S3Location,
            explicit: Option<&Location>,
            state: Option<&Path>,
        ) -> Result<S3Site> {
            let work = s3_work_area(location, explicit)?;
            let sibling = location.sibling_work_area().map(Location::S3);
            if Some(&work) != sibling.as_ref() {
                bail!(
                    "storage root {location}: work area {work}: only the default work area \
                     (the sibling prefix {location}.ocfl-work) is supported on S3"
                );
            }
            let root = S3Builder::new(location.clone())
                .build()
                .with_context(|| format!("storage root {location}"))?;
            let prefix = location.prefix();
            let name = prefix.rsplit('/').next().unwrap_or(prefix).to_owned();
            let base = root
                .with_prefix(parent(prefix))
                .with_context(|| format!("storage root {location}"))?;
            let state = match state {
                Some(state) => state.to_path_buf(),
                None => {
                    let home = state_home(|name| std::env::var_os(name)).context(
                        "no state directory for the engine's store: set XDG_STATE_HOME or \
                         HOME, or pass --state",
                    )?;
                    let endpoint = s3_endpoint(|name| std::env::var_os(name));
                    s3_state_dir(&home, endpoint.as_deref(), location)
                }
            };
            Ok(S3Site {
                location: location.clone(),
                root,
                base,
                work_dir: format!("{name}.ocfl-work"),
                name,
                state,
            })
        }

        pub(super) fn environment(&self, state_dir: &Path) -> Environment {
            Environment::over(
                &self.location.to_string(),
                Arc::new(self.base.clone()),
                &self.name,
                &self.work_dir,
                Arc::new(self.root.clone()),
                state_dir,
            )
        }
    }
}
