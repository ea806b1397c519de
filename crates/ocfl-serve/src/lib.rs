//! The web console of `ocfl serve`: a JSON API under `/api/` and server-rendered pages over
//! an OCFL storage root and the update runs of its engine store.
//!
//! [`Console::router`] gives an `axum` router; [`serve`] runs it on a listener. The pages
//! are rendered by `maud` (compile-time templates that escape every value), with one small
//! embedded script for live progress (server-sent events from `/api/live`) and one style
//! sheet: no asset is read from disk. Reads of the root run on blocking threads; the store
//! is reached through `ocfl-durable`'s `UpdateService`, whatever backend it is on.
//!
//! Security: [`check_listen`] refuses a non-loopback address without a token; with a token
//! every request needs it (bearer header, or the login form's cookie); actions need
//! [`ConsoleOptions::allow_actions`] and, unless sent with the bearer header, the CSRF
//! token; every answer forbids inline scripts (Content-Security-Policy).

#![deny(missing_docs)]

mod api;
mod auth;
mod download;
mod error;
mod files;
mod listing;
mod live;
mod objects;
mod pages;
mod paging;
mod shapes;
mod timeline;
mod urls;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use ocfl_core::object::ObjectError;
use ocfl_core::storage::Storage;
use ocfl_durable::UpdateService;

pub use error::Failure;
pub use paging::{DEFAULT_LIMIT, MAX_LIMIT};
pub use urls::{logical_path as url_logical_path, segment as url_segment};

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The root could not be opened.
    #[error("storage root {root}")]
    Root {
        /// The root, as messages show it.
        root: String,
        /// Why.
        #[source]
        source: Box<ObjectError>,
    },
    /// A non-loopback address without a token.
    #[error(
        "{0} is not a loopback address: serving it needs --token (every request must then \
         carry it)"
    )]
    TokenRequired(SocketAddr),
    /// An empty token.
    #[error("the token must not be empty")]
    EmptyToken,
    /// No randomness for the session secrets.
    #[error("drawing the console's secrets: {0}")]
    Random(String),
}

/// How the console answers.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// The token every request must carry; `None` on loopback only.
    pub token: Option<String>,
    /// Whether the resume and terminate actions are offered.
    pub allow_actions: bool,
    /// The `Host` headers accepted (e.g. `127.0.0.1:8080`, `localhost:8080`); empty: any.
    /// A console answering without a token on loopback accepts only its own names, so a
    /// web page cannot reach it by rebinding a name of its own to 127.0.0.1.
    pub allowed_hosts: Vec<String>,
}

/// Refuses to listen on a non-loopback address without a token.
pub fn check_listen(address: SocketAddr, token: Option<&str>) -> Result<(), ConsoleError> {
    match token {
        Some("") => Err(ConsoleError::EmptyToken),
        None if !address.ip().is_loopback() => Err(ConsoleError::TokenRequired(address)),
        _ => Ok(()),
    }
}

/// The `Host` names a loopback console on `port` answers to.
pub fn loopback_hosts(port: u16) -> Vec<String> {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|host| format!("{host}:{port}"))
        .collect()
}

/// What every request reads.
pub struct App {
    objects: objects::Objects,
    service: Option<Arc<UpdateService>>,
    options: ConsoleOptions,
    csrf: String,
    session: String,
    live: Arc<live::Live>,
    root_name: String,
}

/// The console of one storage root.
pub struct Console {
    app: Arc<App>,
}

impl Console {
    /// The console of the storage root in `storage` (which lives as long as the process),
    /// with the runs of `service` (`None`: no engine store, so no runs).
    pub fn new(
        storage: &'static dyn Storage,
        service: Option<UpdateService>,
        options: ConsoleOptions,
    ) -> Result<Console, ConsoleError> {
        let root_name = storage.display_path("");
        let service = service.map(Arc::new);
        let objects = objects::Objects::new(storage, service.clone()).map_err(|source| {
            ConsoleError::Root {
                root: root_name.clone(),
                source: Box::new(source),
            }
        })?;
        let random = || auth::random_secret().map_err(|e| ConsoleError::Random(e.to_string()));
        Ok(Console {
            app: Arc::new(App {
                objects,
                service,
                options,
                csrf: random()?,
                session: random()?,
                live: Arc::new(live::Live::default()),
                root_name,
            }),
        })
    }

    /// Where a worker of this process reports progress, so that the pages show it as it
    /// happens rather than at the next read of the store (`ocfl serve` on the embedded
    /// store runs the runs itself).
    pub fn progress(&self) -> Arc<dyn ocfl_durable::ProgressSink> {
        Arc::new(Fanout([
            self.app.live.clone(),
            self.app.objects.listing().sink(),
        ]))
    }

    /// Waits until the console has listed the root's objects once (it answers meanwhile,
    /// from a listing that says it is not complete).
    pub async fn listing_built(&self) {
        self.app.objects.listing().built().await;
    }

    /// The routes (see the README for the list).
    pub fn router(&self) -> Router {
        let app = self.app.clone();
        let api = Router::new()
            .route("/api/session", get(api::session))
            .route("/api/runs", get(api::runs))
            .route("/api/live", get(api::live))
            .route("/api/runs/{run}", get(api::run))
            .route("/api/runs/{run}/resume", post(api::resume))
            .route("/api/runs/{run}/terminate", post(api::terminate))
            .route("/api/workers", get(api::workers))
            .route("/api/objects", get(api::objects))
            .route("/api/objects/{id}", get(api::object))
            .route("/api/objects/{id}/diff", get(api::diff))
            .route("/api/objects/{id}/validation", get(api::validation))
            .route(
                "/api/objects/{id}/versions/{version}",
                get(api::version_files),
            )
            .route(
                "/api/objects/{id}/versions/{version}/files/{*path}",
                get(api::download),
            );
        let pages = pages::routes();
        api.merge(pages)
            .layer(axum::middleware::from_fn_with_state(
                app.clone(),
                auth::guard,
            ))
            .with_state(app)
    }
}

/// Reports to several sinks.
struct Fanout<const N: usize>([Arc<dyn ocfl_durable::ProgressSink>; N]);

impl<const N: usize> ocfl_durable::ProgressSink for Fanout<N> {
    fn event(&self, event: &ocfl_durable::ProgressEvent<'_>) {
        for sink in &self.0 {
            sink.event(event);
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_goes_without_a_token() {
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let local6: SocketAddr = "[::1]:8080".parse().expect("addr");
        let open: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        assert!(check_listen(local, None).is_ok());
        assert!(check_listen(local6, None).is_ok());
        assert!(matches!(
            check_listen(open, None),
            Err(ConsoleError::TokenRequired(_))
        ));
        assert!(check_listen(open, Some("s3cret")).is_ok());
        assert!(matches!(
            check_listen(local, Some("")),
            Err(ConsoleError::EmptyToken)
        ));
    }
}
