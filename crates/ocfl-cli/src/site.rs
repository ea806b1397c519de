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

    /// The activities' environment, keeping run data below `state_dir`; with a `shared`
    /// store (PostgreSQL), whose workers may be on other hosts, an S3 root keeps run data in
    /// its work area in the bucket instead.
    pub fn environment(&self, state_dir: &std::path::Path, shared: bool) -> Environment {
        match self {
            Site::Local(work) => Environment::at(work, state_dir),
            #[cfg(feature = "s3")]
            Site::S3(site) => site.environment(state_dir, shared),
        }
    }

    /// Whether runs on a `shared` store stage their new content into the work area before
    /// they are submitted (`docs/durability.md` 11.6): an S3 root's, whose workers need
    /// nothing but the bucket and the database.
    pub fn stages_before_submitting(&self, shared: bool) -> bool {
        match self {
            Site::Local(_) => false,
            #[cfg(feature = "s3")]
            Site::S3(_) => shared,
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
                ServiceOptions {
                    tuning: ocfl_durable::Tuning::object_store(),
                    ..ServiceOptions::default()
                },
            )),
        }
    }
}

#[cfg(feature = "s3")]
pub mod s3 {
    //! A root in a bucket.

    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use anyhow::{Context, Result};
    use ocfl_core::location::{Location, S3Location, S3WorkArea, s3_state_dir, state_home};
    use ocfl_core::storage::join;
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
        /// The store holding the root (at `name`) and the work area (at `work_dir`).
        pub(crate) base: ObjectStorage,
        pub(crate) name: String,
        pub(crate) work_dir: String,
        /// The default engine store's directory, and where runs keep their data.
        pub state: PathBuf,
    }

    impl S3Site {
        /// The site of `location`, with the work area `explicit` (default: the sibling
        /// prefix; [`S3WorkArea::of`] says which others it may be) and run data in `state`
        /// (default: the user's state directory).
        pub fn new(
            location: &S3Location,
            explicit: Option<&Location>,
            state: Option<&Path>,
        ) -> Result<S3Site> {
            let work = S3WorkArea::of(location, explicit)?;
            let root = S3Builder::new(location.clone())
                .build()
                .with_context(|| format!("storage root {location}"))?;
            let base = root
                .with_prefix(work.base.prefix())
                .with_context(|| format!("storage root {location}"))?;
            let state = match state {
                Some(state) => state.to_path_buf(),
                None => {
                    let home = state_home(|name| std::env::var_os(name)).context(
                        "no state directory for the engine's store: set XDG_STATE_HOME or \
                         HOME, or pass --state",
                    )?;
                    // The endpoint the client uses, which an AWS profile may have given.
                    s3_state_dir(&home, root.endpoint(), location)
                }
            };
            Ok(S3Site {
                location: location.clone(),
                root,
                base,
                work_dir: work.area,
                name: work.root,
                state,
            })
        }

        /// The work area, as a store of its own (run data of a shared engine store).
        fn work_area(&self) -> Result<ObjectStorage> {
            self.base
                .with_prefix(&join(self.base.location().prefix(), &self.work_dir))
                .with_context(|| format!("the work area of storage root {}", self.location))
        }

        pub(super) fn environment(&self, state_dir: &Path, shared: bool) -> Environment {
            let env = Environment::over(
                &self.location.to_string(),
                Arc::new(self.base.clone()),
                &self.name,
                &self.work_dir,
                Arc::new(self.root.clone()),
                state_dir,
            );
            match (shared, self.work_area()) {
                (true, Ok(work)) => env.with_state_storage(Arc::new(work)),
                _ => env,
            }
        }
    }
}

#[cfg(all(test, feature = "s3"))]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// An S3 root's uploads are requests in flight: its runs keep as many copy batches going
    /// as its store allows requests, in batches small enough to keep them busy.
    #[test]
    fn runs_on_an_s3_root_use_the_object_store_tuning() {
        let state = tempfile::tempdir().unwrap();
        let location = ocfl_core::location::S3Location::new("bucket", "root").unwrap();
        let site = Site::S3(s3::S3Site::new(&location, None, Some(state.path())).unwrap());
        let backend = Arc::new(durable_core::MemoryBackend::new());
        let service = site.service(backend).unwrap();
        let tuning = &service.options().tuning;
        assert_eq!(*tuning, ocfl_durable::Tuning::object_store());
        assert!(tuning.copy_concurrency > ocfl_durable::Tuning::default().copy_concurrency);
    }
}
