//! A storage root with objects committed by real runs on an in-memory engine store, and
//! the console's router over it, asked without a network.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use durable_core::{MemoryBackend, Worker, WorkerOptions};
use http_body_util::BodyExt as _;
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::storage::LocalStorage;
use ocfl_durable::{CommitRequest, Environment, ProgressSink, ServiceOptions, UpdateService};
use ocfl_serve::{Console, ConsoleOptions};
use tower::ServiceExt as _;

/// The id with quotes, a slash, a percent sign and markup.
pub const HOSTILE_ID: &str = "ark:/13030/\"q\" 100%41 <b>x</b>";
pub const SCRIPT_NAME: &str = "<script>alert(1)</script>";
pub const IMG_NAME: &str = "\"><img src=x onerror=alert(2)>";
pub const HOST: &str = "127.0.0.1:8080";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub backend: Arc<MemoryBackend>,
}

pub fn worker_options() -> WorkerOptions {
    WorkerOptions {
        fetch_wait: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(5),
        error_backoff: Duration::from_millis(5),
        ..WorkerOptions::default()
    }
}

impl Fixture {
    /// A root with two objects: `HOSTILE_ID` at v2 (v1: a.txt, dir/b.txt and the two hostile
    /// names; v2: a.txt changed, dir/b.txt removed, c.txt added) and `many` (250 files).
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        init_storage_root(&LocalStorage::new(&root), &InitOptions::default()).expect("init");
        let fx = Fixture {
            state: dir.path().join("state"),
            root,
            dir,
            backend: Arc::new(MemoryBackend::new()),
        };
        let worker = fx.worker();
        let v1 = fx.source(
            "v1",
            &[
                ("a.txt", b"one".as_slice()),
                ("dir/b.txt", b"two"),
                (SCRIPT_NAME, b"script"),
                (IMG_NAME, b"img"),
            ],
        );
        fx.commit(HOSTILE_ID, &v1).await;
        let v2 = fx.source(
            "v2",
            &[
                ("a.txt", b"one, changed".as_slice()),
                ("c.txt", b"three"),
                (SCRIPT_NAME, b"script"),
                (IMG_NAME, b"img"),
            ],
        );
        fx.commit(HOSTILE_ID, &v2).await;
        let names: Vec<(String, Vec<u8>)> = (0..250)
            .map(|n| (format!("f/{n:03}.txt"), format!("file {n}").into_bytes()))
            .collect();
        let files: Vec<(&str, &[u8])> = names
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let many = fx.source("many", &files);
        fx.commit("many", &many).await;
        worker.shutdown().await;
        fx
    }

    pub fn source(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let source = self.dir.path().join("sources").join(name);
        for (path, bytes) in files {
            let file = source.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, bytes).expect("write");
        }
        source
    }

    pub fn service(&self) -> UpdateService {
        let options = ServiceOptions {
            wait_timeout: Some(Duration::from_secs(60)),
            ..ServiceOptions::default()
        };
        UpdateService::new(self.backend.clone(), &self.root, options).expect("service")
    }

    pub fn worker(&self) -> Worker {
        self.worker_reporting_to(None)
    }

    /// A worker whose activities report progress to `sink` (a console's, as `ocfl serve`
    /// on the embedded store runs its runs).
    pub fn worker_reporting_to(&self, sink: Option<Arc<dyn ProgressSink>>) -> Worker {
        let mut env = Environment::local(&self.root, &self.state).expect("env");
        if let Some(sink) = sink {
            env = env.with_progress(sink);
        }
        Worker::start(
            self.backend.clone(),
            ocfl_durable::registry(Arc::new(env)),
            worker_options(),
        )
    }

    pub async fn commit(&self, id: &str, source: &Path) -> String {
        let outcome = self
            .service()
            .commit(&CommitRequest::new(id, source))
            .await
            .expect("commit");
        outcome.run
    }

    pub fn router(&self, options: ConsoleOptions) -> Router {
        self.console(options).router()
    }

    pub fn console(&self, options: ConsoleOptions) -> Console {
        let storage: &'static LocalStorage = Box::leak(Box::new(LocalStorage::new(&self.root)));
        Console::new(storage, Some(self.service()), options).expect("console")
    }

    /// A loopback console with actions, as `ocfl serve --allow-actions` on 127.0.0.1:8080.
    pub fn open_console(&self) -> Console {
        self.console(ConsoleOptions {
            token: None,
            allow_actions: true,
            allowed_hosts: ocfl_serve::loopback_hosts(8080),
        })
    }

    /// The router of a loopback console with actions, as `ocfl serve --allow-actions` on
    /// 127.0.0.1:8080 gives.
    pub fn open_router(&self) -> Router {
        self.router(ConsoleOptions {
            token: None,
            allow_actions: true,
            allowed_hosts: ocfl_serve::loopback_hosts(8080),
        })
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", HOST)
        .body(Body::empty())
        .expect("request")
}

pub async fn get(router: &Router, uri: &str) -> Answer {
    send(router, get_request(uri)).await
}

pub fn seg(value: &str) -> String {
    ocfl_serve::url_segment(value)
}
