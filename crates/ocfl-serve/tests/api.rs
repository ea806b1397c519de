//! The JSON API: every route, its paging, and its refusals.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use support::*;
use tower::ServiceExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_in_pages_with_filters() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    // Finished runs only with all=true.
    assert_eq!(
        get(&router, "/api/runs").await.json()["runs"],
        Value::Array(vec![])
    );
    let mut seen = Vec::new();
    let mut uri = "/api/runs?all=true&limit=2".to_owned();
    loop {
        let page = get(&router, &uri).await.json();
        let runs = page["runs"].as_array().expect("runs").clone();
        assert!(runs.len() <= 2);
        for run in &runs {
            assert_eq!(run["state"], "completed");
            for key in [
                "run",
                "id",
                "version",
                "steps_done",
                "bytes_total",
                "started",
                "ended",
            ] {
                assert!(run.get(key).is_some(), "{key} missing from {run}");
            }
            seen.push(run["run"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(next) => uri = format!("/api/runs?all=true&limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "keyset pages in run id order");

    let hostile = get(
        &router,
        &format!(
            "/api/runs?all=true&object={}",
            ocfl_serve::url_segment(HOSTILE_ID)
        ),
    )
    .await
    .json();
    let runs = hostile["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["id"] == HOSTILE_ID));
    let completed = get(&router, "/api/runs?state=completed&object=many")
        .await
        .json();
    assert_eq!(completed["runs"].as_array().expect("runs").len(), 1);
    let stalled = get(&router, "/api/runs?state=stalled").await.json();
    assert_eq!(stalled["runs"].as_array().expect("runs").len(), 0);

    for bad in [
        "/api/runs?limit=0",
        "/api/runs?limit=1001",
        "/api/runs?limit=x",
        "/api/runs?state=sleeping",
    ] {
        let answer = get(&router, bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.json()["error"].is_string(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_shown_with_its_history() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let page = get(&router, "/api/runs?all=true&object=many").await.json();
    let run = page["runs"][0]["run"].as_str().expect("run").to_owned();
    let shown = get(&router, &format!("/api/runs/{run}")).await.json();
    assert_eq!(shown["run"], run.as_str());
    assert_eq!(shown["id"], "many");
    let events = shown["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["type"] == "execution_completed"),
        "{events:?}"
    );
    assert_eq!(
        get(&router, "/api/runs/r-no-such-run").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_listed_in_pages_and_searched() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    console.listing_built().await;
    let router = console.router();
    let first = get(&router, "/api/objects?limit=1").await.json();
    assert_eq!(first["objects"].as_array().expect("objects").len(), 1);
    assert_eq!(first["objects"][0]["id"], HOSTILE_ID);
    assert_eq!(first["objects"][0]["head"], "v2");
    let next = first["next"].as_str().expect("next");
    let second = get(
        &router,
        &format!(
            "/api/objects?limit=1&after={}",
            ocfl_serve::url_segment(next)
        ),
    )
    .await
    .json();
    assert_eq!(second["objects"][0]["id"], "many");
    assert_eq!(second["next"], Value::Null);
    let found = get(&router, "/api/objects?q=MAN").await.json();
    assert_eq!(found["objects"].as_array().expect("objects").len(), 1);
    assert_eq!(found["objects"][0]["id"], "many");
    assert_eq!(
        get(&router, "/api/objects?limit=5000").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// The ids and heads of the whole listing, read page by page.
async fn listing(router: &axum::Router) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(
            router,
            &format!("/api/objects?limit=2&after={}", seg(&after)),
        )
        .await
        .json();
        assert_eq!(page["complete"], true);
        for object in page["objects"].as_array().expect("objects") {
            all.push((
                object["id"].as_str().expect("id").to_owned(),
                object["head"].as_str().expect("head").to_owned(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return all,
        }
    }
}

// The listing is an index built once: runs of the console's worker change it without
// another walk of the root (the next is minutes away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_follows_commits_through_the_console() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    console.listing_built().await;
    let router = console.router();
    let before = listing(&router).await;
    assert_eq!(
        before,
        [
            (HOSTILE_ID.to_owned(), "v2".to_owned()),
            ("many".to_owned(), "v1".to_owned())
        ]
    );
    let worker = fx.worker_reporting_to(Some(console.progress()));
    let fresh = fx.source("fresh", &[("x.txt", b"x".as_slice())]);
    fx.commit("a new one", &fresh).await;
    fx.commit("many", &fresh).await;
    let expected = vec![
        ("a new one".to_owned(), "v1".to_owned()),
        (HOSTILE_ID.to_owned(), "v2".to_owned()),
        ("many".to_owned(), "v2".to_owned()),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut now = listing(&router).await;
    while now != expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        now = listing(&router).await;
    }
    assert_eq!(now, expected);
    let found = get(&router, "/api/objects?q=NEW").await.json();
    assert_eq!(found["objects"][0]["id"], "a new one");
    assert_eq!(found["objects"].as_array().expect("objects").len(), 1);
    worker.shutdown().await;
}

// A run of a worker elsewhere (PostgreSQL), which reports nothing to the console, changes
// the listing once the console has seen it unfinished and then ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_follows_runs_of_other_workers() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    console.listing_built().await;
    let router = console.router();
    let fresh = fx.source("fresh", &[("x.txt", b"x".as_slice())]);
    fx.service()
        .submit(&ocfl_durable::CommitRequest::new("many", &fresh))
        .await
        .expect("submit");
    // The console reads the unfinished runs every 2 s: let it see this one waiting.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let worker = fx.worker();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let head = || async {
        listing(&router)
            .await
            .into_iter()
            .find(|(id, _)| id == "many")
            .map(|(_, head)| head)
    };
    while head().await.as_deref() != Some("v2") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(head().await.as_deref(), Some("v2"));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_their_files_are_listed_in_pages() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let id = seg(HOSTILE_ID);
    let object = get(&router, &format!("/api/objects/{id}")).await.json();
    assert_eq!(object["id"], HOSTILE_ID);
    assert_eq!(object["head"], "v2");
    let versions: Vec<&str> = object["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_str().expect("version"))
        .collect();
    assert_eq!(versions, ["v2", "v1"], "newest first");
    assert_eq!(object["versions"][1]["files"], 4);

    let v1 = get(&router, &format!("/api/objects/{id}/versions/v1"))
        .await
        .json();
    assert_eq!(v1["head"], false);
    assert_eq!(v1["file_count"], 4);
    let paths: Vec<&str> = v1["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    let mut expected = vec!["a.txt", "dir/b.txt", SCRIPT_NAME, IMG_NAME];
    expected.sort();
    assert_eq!(paths, expected);

    // 250 files in pages of 100.
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(
            &router,
            &format!(
                "/api/objects/many/versions/v1?after={}",
                ocfl_serve::url_segment(&after)
            ),
        )
        .await
        .json();
        let files = page["files"].as_array().expect("files");
        assert!(files.len() <= 100);
        all.extend(
            files
                .iter()
                .map(|f| f["path"].as_str().expect("path").to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(all.len(), 250);
    assert_eq!(all[0], "f/000.txt");
    assert_eq!(all[249], "f/249.txt");

    assert_eq!(
        get(&router, &format!("/api/objects/{id}/versions/v9"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&router, &format!("/api/objects/{id}/versions/nine"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_of_two_versions() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let id = seg(HOSTILE_ID);
    let diff = get(&router, &format!("/api/objects/{id}/diff?from=v1&to=v2"))
        .await
        .json();
    assert_eq!(diff["from"], "v1");
    assert_eq!(diff["to"], "v2");
    let changes: Vec<(String, String)> = diff["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["change"].as_str().expect("c").to_owned(),
                c["path"].as_str().expect("p").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("modified".to_owned(), "a.txt".to_owned()),
            ("added".to_owned(), "c.txt".to_owned()),
            ("removed".to_owned(), "dir/b.txt".to_owned()),
        ]
    );
    // Without from: the version before `to`.
    let default = get(&router, &format!("/api/objects/{id}/diff"))
        .await
        .json();
    assert_eq!(default["changes"], diff["changes"]);
    let paged = get(
        &router,
        &format!("/api/objects/{id}/diff?from=v1&to=v2&limit=2"),
    )
    .await
    .json();
    assert_eq!(paged["changes"].as_array().expect("changes").len(), 2);
    assert_eq!(paged["next"], "c.txt");
    assert_eq!(
        get(&router, &format!("/api/objects/{id}/diff?from=v7"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_download_streamed_and_verified() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let id = seg(HOSTILE_ID);
    let a = get(
        &router,
        &format!("/api/objects/{id}/versions/v1/files/a.txt"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b"one");
    let a2 = get(
        &router,
        &format!("/api/objects/{id}/versions/v2/files/a.txt"),
    )
    .await;
    assert_eq!(a2.body, b"one, changed");
    let b = get(
        &router,
        &format!("/api/objects/{id}/versions/v1/files/dir/b.txt"),
    )
    .await;
    assert_eq!(b.body, b"two");
    let script = get(
        &router,
        &format!(
            "/api/objects/{id}/versions/v2/files/{}",
            ocfl_serve::url_logical_path(SCRIPT_NAME)
        ),
    )
    .await;
    assert_eq!(script.body, b"script");
    assert_eq!(script.headers["content-type"], "application/octet-stream");
    assert!(
        script.headers["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    let many = get(&router, "/api/objects/many/versions/v1/files/f/007.txt").await;
    assert_eq!(many.body, b"file 7");
    assert_eq!(
        get(
            &router,
            &format!("/api/objects/{id}/versions/v2/files/dir/b.txt")
        )
        .await
        .status,
        StatusCode::NOT_FOUND,
        "removed in v2"
    );

    // Damage a.txt of v2 in place: the download fails instead of ending normally.
    let object = walkdir(&fx.root, "one, changed");
    std::fs::write(&object, b"one, chAnged").expect("tamper");
    let response = router
        .clone()
        .oneshot(get_request(&format!(
            "/api/objects/{id}/versions/v2/files/a.txt"
        )))
        .await
        .expect("response");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "headers go before the bytes are read"
    );
    assert!(
        response.into_body().collect().await.is_err(),
        "a digest mismatch must abort the body"
    );
}

/// The content file below `dir` holding exactly `bytes`.
fn walkdir(dir: &std::path::Path, bytes: &str) -> std::path::PathBuf {
    find_content(dir, bytes)
        .unwrap_or_else(|| panic!("no content file holds {bytes:?} below {}", dir.display()))
}

fn find_content(dir: &std::path::Path, bytes: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if let Some(found) = find_content(&path, bytes) {
                return Some(found);
            }
        } else if path.components().any(|c| c.as_os_str() == "content")
            && std::fs::read(&path).expect("read") == bytes.as_bytes()
        {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_cannot_leave_the_object_or_the_root() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let id = seg(HOSTILE_ID);
    for (path, status) in [
        ("../../inventory.json", StatusCode::BAD_REQUEST),
        ("..", StatusCode::BAD_REQUEST),
        ("%2E%2E/%2E%2E/inventory.json", StatusCode::BAD_REQUEST),
        ("dir%2Fb.txt", StatusCode::BAD_REQUEST),
        ("dir%2fb.txt", StatusCode::BAD_REQUEST),
        ("dir//b.txt", StatusCode::BAD_REQUEST),
        ("./a.txt", StatusCode::BAD_REQUEST),
        ("%FF", StatusCode::BAD_REQUEST),
        ("inventory.json", StatusCode::NOT_FOUND),
        ("v1/content/a.txt", StatusCode::NOT_FOUND),
        ("dir", StatusCode::NOT_FOUND),
    ] {
        let answer = get(
            &router,
            &format!("/api/objects/{id}/versions/v1/files/{path}"),
        )
        .await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
    }
    for (object, status) in [
        ("no-such-object", StatusCode::NOT_FOUND),
        ("%2E%2E", StatusCode::NOT_FOUND),
        ("..%2F..%2Fetc", StatusCode::NOT_FOUND),
        ("%FF", StatusCode::BAD_REQUEST),
    ] {
        for route in [
            "",
            "/versions/v1",
            "/diff",
            "/validation",
            "/versions/v1/files/a.txt",
        ] {
            let answer = get(&router, &format!("/api/objects/{object}{route}")).await;
            assert_eq!(answer.status, status, "{object}{route}: {}", answer.text());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_outside_a_flat_root_are_refused() {
    use ocfl_core::init::{InitOptions, init_storage_root};
    use ocfl_core::layout::{FlatDirect, Layout};
    use ocfl_core::storage::LocalStorage;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let options = InitOptions {
        layout: Some(Layout::FlatDirect(FlatDirect {})),
        ..InitOptions::default()
    };
    init_storage_root(&LocalStorage::new(&root), &options).expect("init");
    std::fs::write(dir.path().join("secret"), b"outside").expect("secret");
    let storage: &'static LocalStorage = Box::leak(Box::new(LocalStorage::new(&root)));
    let router = ocfl_serve::Console::new(storage, None, ocfl_serve::ConsoleOptions::default())
        .expect("console")
        .router();
    for id in [
        "..",
        "../root",
        "..%2Fsecret",
        "%2E%2E",
        "extensions",
        "%2Fetc",
    ] {
        let answer = get(&router, &format!("/api/objects/{id}")).await;
        assert!(
            answer.status == StatusCode::NOT_FOUND || answer.status == StatusCode::BAD_REQUEST,
            "{id}: {} {}",
            answer.status,
            answer.text()
        );
    }
    // No engine store: no runs, and no live events.
    assert_eq!(
        get(&router, "/api/runs").await.json()["runs"],
        Value::Array(vec![])
    );
    assert_eq!(
        get(&router, "/api/live").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validation_report_on_demand() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let report = get(&router, "/api/objects/many/validation").await.json();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["id"], "many");
    assert_eq!(report["errors"], Value::Array(vec![]));
    let content = walkdir(&fx.root, "file 9");
    std::fs::write(&content, b"file 9 changed").expect("tamper");
    let report = get(&router, "/api/objects/many/validation").await.json();
    assert_eq!(report["valid"], false);
    let codes: Vec<&str> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code"))
        .collect();
    assert!(codes.contains(&"E092"), "{codes:?}");
}

/// The `run` events of `/api/live` until `done` holds of the lines read so far (20 s at most).
async fn live_lines(body: &mut axum::body::Body, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut text = String::new();
    let mut lines = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done(&lines) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("an event in time; seen so far: {lines:?}"))
            .expect("a frame")
            .expect("no error");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        // Whole events end with a blank line.
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.lines().any(|l| l == "event: run") {
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                lines.push(serde_json::from_str(&data).expect("a JSON line"));
            }
        }
    }
    lines
}

// A one-file commit starts and ends well within one read of the store (400 ms): the
// console's worker reports it, so its end is still sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_progress_arrives_as_server_sent_events() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    let router = console.router();
    let response = router
        .clone()
        .oneshot(get_request("/api/live"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let worker = fx.worker_reporting_to(Some(console.progress()));
    let source = fx.source("v3", &[("new.txt", b"new".as_slice())]);
    let submitted = fx
        .service()
        .submit(&ocfl_durable::CommitRequest::new("live", &source))
        .await
        .expect("submit");
    let lines = live_lines(&mut body, |lines| {
        lines
            .iter()
            .any(|l| l["run"] == submitted.run.as_str() && l["state"] == "completed")
    })
    .await;
    let end = lines.last().expect("a line");
    assert_eq!(end["id"], "live");
    assert_eq!(end["steps_done"], end["steps_total"], "{end}");
    worker.shutdown().await;
}

// A run of many steps advances on the stream between reads of the store: the worker's
// reports raise its counts (its plan's total, then its first step, at once; later ones at
// most every 100 ms), never above the plan's, and never backwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_progress_advances_between_reads_of_the_store() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    let response = console
        .router()
        .oneshot(get_request("/api/live"))
        .await
        .expect("response");
    let mut body = response.into_body();
    let names: Vec<String> = (0..600).map(|n| format!("d{}/f{n}.txt", n % 7)).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    let source = fx.source("wide", &files);
    let worker = fx.worker_reporting_to(Some(console.progress()));
    let submitted = fx
        .service()
        .submit(&ocfl_durable::CommitRequest::new("wide", &source))
        .await
        .expect("submit");
    let run = submitted.run.as_str();
    let lines = live_lines(&mut body, |lines| {
        lines
            .iter()
            .any(|l| l["run"] == run && l["state"] == "completed")
    })
    .await;
    let steps: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| l["run"] == run)
        .map(|l| {
            (
                l["steps_done"].as_u64().expect("done"),
                l["steps_total"].as_u64().expect("total"),
            )
        })
        .collect();
    let (_, total) = *steps.last().expect("lines");
    assert!(total >= 600, "{steps:?}");
    assert!(
        steps.windows(2).all(|w| w[0].0 <= w[1].0),
        "never backwards: {steps:?}"
    );
    assert!(steps.iter().all(|&(done, t)| done <= t), "{steps:?}");
    let between: Vec<u64> = steps
        .iter()
        .map(|&(done, _)| done)
        .filter(|&done| done > 0 && done < total)
        .collect();
    let mut distinct = steps.clone();
    distinct.dedup();
    assert!(
        !between.is_empty() && distinct.len() >= 3,
        "updates between the start and the end: {steps:?}"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tells_the_csrf_token() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    let session = get(&router, "/api/session").await.json();
    assert_eq!(session["actions"], true);
    assert_eq!(session["csrf_token"].as_str().expect("token").len(), 64);
    let answer = send(
        &router,
        Request::post("/api/runs/r-x/terminate")
            .header("host", HOST)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "no CSRF token");
}
