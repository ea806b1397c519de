//! The Workers view: `/api/workers` and `/workers`, on PostgreSQL (two workers holding work,
//! one with a hostile name) and on a store that records no workers.
//! The PostgreSQL test is skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use durable_core::backend::{ActivityWork, OrchestrationCommit};
use durable_core::testing::new_instance;
use durable_core::{ActivityOptions, Backend};
use durable_postgres::PostgresBackend;
use durable_postgres::testing::{self, fresh_schema_url};
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::storage::LocalStorage;
use ocfl_durable::{ServiceOptions, UpdateService};
use ocfl_serve::{Console, ConsoleOptions};
use serde_json::Value;
use support::{Fixture, get};

const LEASE: Duration = Duration::from_secs(60);
/// A worker name is any text the operator (or a host) chose.
const HOSTILE_NAME: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
/// An instance id the run pages know (runs are `commit-...`).
const RUN: &str = "commit-workers-run";
/// An engine instance that is not a run (as a run's per-object lock).
const OTHER: &str = "ocfl.other-instance";

async fn backend(url: &str, name: Option<&str>) -> PostgresBackend {
    PostgresBackend::connect_with(url, testing::options(name))
        .await
        .expect("connect to the test database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_postgres_are_shown_with_the_work_they_hold() {
    let Some(base) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let url = fresh_schema_url(&base, "serve_workers")
        .await
        .expect("a schema for the test");
    let console_backend = Arc::new(backend(&url, None).await);
    let first = backend(&url, Some("first")).await;
    let second = backend(&url, Some(HOSTILE_NAME)).await;
    console_backend
        .create_instance(new_instance(RUN))
        .await
        .expect("create the run");
    console_backend
        .create_instance(new_instance(OTHER))
        .await
        .expect("create the other instance");
    // The first worker holds the run's episode; the second an activity of the other.
    let held = first
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("work");
    assert_eq!(held.instance.instance_id, RUN);
    let episode = second
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("work");
    let commit = OrchestrationCommit {
        activities: vec![ActivityWork {
            instance_id: OTHER.to_owned(),
            execution_id: 1,
            task_id: 1,
            name: "ocfl.copy".to_owned(),
            input: "null".to_owned(),
            options: ActivityOptions::default(),
        }],
        ..OrchestrationCommit::default()
    };
    second
        .ack_orchestration(OTHER, episode.lease.token, &commit)
        .await
        .expect("ack");
    second
        .fetch_activity(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the activity");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    init_storage_root(&LocalStorage::new(&root), &InitOptions::default()).expect("init");
    let service =
        UpdateService::new(console_backend, &root, ServiceOptions::default()).expect("service");
    let storage: &'static LocalStorage = Box::leak(Box::new(LocalStorage::new(&root)));
    let router = Console::new(
        storage,
        Some(service),
        ConsoleOptions {
            token: None,
            allow_actions: false,
            allowed_hosts: ocfl_serve::loopback_hosts(8080),
        },
    )
    .expect("console")
    .router();

    let answer = get(&router, "/api/workers").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let document = answer.json();
    assert_eq!(document["recorded"], true);
    assert_eq!(document["minutes"], 10);
    let workers = document["workers"].as_array().expect("workers");
    assert_eq!(
        workers.len(),
        2,
        "the console's own store is no worker: {document:#}"
    );
    let by_name = |name: &str| -> &Value {
        workers
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no worker {name:?}: {document:#}"))
    };
    let first_line = by_name("first");
    assert_eq!(first_line["pid"], std::process::id());
    assert!(
        first_line["last_seen"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let holds = first_line["holds"].as_array().expect("holds");
    assert_eq!(holds.len(), 1, "{first_line:#}");
    assert_eq!(holds[0]["run"], RUN);
    assert_eq!(holds[0]["instance"], RUN);
    assert_eq!(holds[0]["kind"], "orchestration");
    assert_eq!(holds[0]["attempt"], 1);
    let second_line = by_name(HOSTILE_NAME);
    let holds = second_line["holds"].as_array().expect("holds");
    assert_eq!(holds.len(), 1, "{second_line:#}");
    assert_eq!(holds[0]["run"], Value::Null);
    assert_eq!(holds[0]["instance"], OTHER);
    assert_eq!(holds[0]["kind"], "activity");
    assert_eq!(holds[0]["activity"], "ocfl.copy");

    let page = get(&router, "/workers").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(&format!("href=\"/runs/{RUN}\"")), "{html}");
    assert!(html.contains("activity ocfl.copy"), "{html}");
    assert!(html.contains("first"), "{html}");
    // The hostile name is shown, escaped: no markup of it reaches the page.
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
        ),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");

    for bad in ["0", "1441", "ten"] {
        let answer = get(&router, &format!("/api/workers?minutes={bad}")).await;
        assert_eq!(answer.status, 400, "minutes={bad}: {}", answer.text());
    }
    // A narrower window still lists workers that hold work.
    let answer = get(&router, "/api/workers?minutes=1").await;
    assert_eq!(answer.json()["workers"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_workers_says_so() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let answer = get(&router, "/api/workers").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let document = answer.json();
    assert_eq!(document["recorded"], false);
    assert_eq!(document["workers"], Value::Array(Vec::new()));
    let page = get(&router, "/workers").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("id=\"not-recorded\""), "{html}");
    assert!(html.contains("shared PostgreSQL store"), "{html}");
    assert!(
        html.contains("href=\"/workers\""),
        "the navigation links the page: {html}"
    );
}
