//! The pages and the security rules: escaping, the token, the login, the Host check, the
//! actions and their CSRF token.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ocfl_serve::ConsoleOptions;
use support::*;

/// No hostile name appears unescaped, and each appears escaped.
fn assert_escaped(html: &str) {
    for raw in ["<script>alert", "<img src=x", "\"><img", "<b>x</b>"] {
        assert!(!html.contains(raw), "unescaped {raw:?} in:\n{html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_and_escapes_user_content() {
    let fx = Fixture::new().await;
    let console = fx.open_console();
    console.listing_built().await;
    let router = console.router();
    let id = seg(HOSTILE_ID);
    let run = get(&router, "/api/runs?all=true&object=many").await.json()["runs"][0]["run"]
        .as_str()
        .expect("run")
        .to_owned();
    for uri in [
        "/runs?all=true".to_owned(),
        format!("/runs/{run}"),
        "/objects".to_owned(),
        format!("/objects/{id}"),
        format!("/objects/{id}/versions/v1"),
        format!("/objects/{id}/versions/v2"),
        format!("/objects/{id}/diff?from=v1&to=v2"),
        format!("/objects/{id}/validation"),
        "/objects/many/versions/v1?limit=10".to_owned(),
    ] {
        let page = get(&router, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.text());
        assert!(
            page.headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_escaped(&page.text());
    }
    let version = get(&router, &format!("/objects/{id}/versions/v1"))
        .await
        .text();
    assert!(
        version.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{version}"
    );
    assert!(
        version.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{version}"
    );
    assert!(
        version.contains("&quot;q&quot; 100%41 &lt;b&gt;x&lt;/b&gt;"),
        "{version}"
    );
    // The download link of the hostile name leads to its bytes.
    let href = format!(
        "/api/objects/{id}/versions/v1/files/{}",
        ocfl_serve::url_logical_path(SCRIPT_NAME)
    );
    assert!(
        version.contains(&href.replace('&', "&amp;")),
        "{href} in {version}"
    );
    assert_eq!(get(&router, &href).await.body, b"script");

    let objects = get(&router, "/objects").await.text();
    assert!(
        objects.contains(&format!("href=\"/objects/{id}\"")),
        "{objects}"
    );

    // A page of a big version links to the next page.
    let many = get(&router, "/objects/many/versions/v1?limit=10")
        .await
        .text();
    assert!(many.contains("f/009.txt") && !many.contains("f/010.txt"));
    assert!(many.contains("after=f%2F009.txt"), "{many}");

    // Validation codes link to the spec's text.
    let content = fx.root.join(ocfl_content(&fx, "file 3"));
    std::fs::write(content, b"damaged").expect("tamper");
    let report = get(&router, "/objects/many/validation").await.text();
    assert!(
        report.contains("href=\"https://ocfl.io/1.1/spec/#E092\""),
        "{report}"
    );

    // Missing things are pages too, escaped.
    let missing = get(&router, "/objects/%3Cscript%3Ealert(3)%3C%2Fscript%3E").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_escaped(&missing.text());
    assert!(!missing.text().contains("<script>alert(3)"));

    for asset in ["/assets/console.js", "/assets/console.css"] {
        assert_eq!(get(&router, asset).await.status, StatusCode::OK, "{asset}");
    }
}

/// The path below the root of the content file holding `bytes`.
fn ocfl_content(fx: &Fixture, bytes: &str) -> std::path::PathBuf {
    fn find(dir: &std::path::Path, bytes: &[u8]) -> Option<std::path::PathBuf> {
        for entry in std::fs::read_dir(dir).ok()? {
            let path = entry.ok()?.path();
            if path.is_dir() {
                if let Some(found) = find(&path, bytes) {
                    return Some(found);
                }
            } else if std::fs::read(&path).ok()? == bytes {
                return Some(path);
            }
        }
        None
    }
    find(&fx.root, bytes.as_bytes()).expect("content file")
}

fn token_router(fx: &Fixture) -> axum::Router {
    fx.router(ConsoleOptions {
        token: Some("s3cret token".to_owned()),
        allow_actions: true,
        allowed_hosts: Vec::new(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_api_and_the_pages() {
    let fx = Fixture::new().await;
    let router = token_router(&fx);
    let refused = get(&router, "/api/objects").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers["www-authenticate"], "Bearer");
    let wrong = send(
        &router,
        Request::get("/api/objects")
            .header("authorization", "Bearer s3cret")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let bearer = send(
        &router,
        Request::get("/api/objects")
            .header("authorization", "Bearer s3cret token")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK);

    // A browser is sent to the login form, which sets a cookie that is not the token.
    let page = get(&router, "/objects?q=x").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/login?next=%2Fobjects%3Fq%3Dx");
    assert_eq!(get(&router, "/login").await.status, StatusCode::OK);
    assert_eq!(
        get(&router, "/assets/console.js").await.status,
        StatusCode::OK
    );
    let login = |token: &str| {
        Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "token={}&next=%2Fobjects",
                ocfl_serve::url_segment(token)
            )))
            .expect("request")
    };
    let failed = send(&router, login("guess")).await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    assert!(failed.headers.get("set-cookie").is_none());
    let ok = send(&router, login("s3cret token")).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers["location"], "/objects");
    let cookie = ok.headers["set-cookie"].to_str().expect("ascii").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("s3cret"),
        "the cookie must not be the token: {cookie}"
    );
    let session = cookie.split(';').next().expect("pair").to_owned();
    let with_cookie = send(
        &router,
        Request::get("/objects")
            .header("cookie", &session)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(with_cookie.status, StatusCode::OK);

    // An action with the cookie needs the CSRF token; with the bearer header it does not.
    let run = get_with(
        &router,
        "/api/runs?all=true&object=many",
        "Bearer s3cret token",
    )
    .await
    .json()["runs"][0]["run"]
        .as_str()
        .expect("run")
        .to_owned();
    let post = |auth: (&str, String)| {
        Request::post(format!("/api/runs/{run}/terminate"))
            .header(auth.0, auth.1)
            .body(Body::empty())
            .expect("request")
    };
    let no_csrf = send(&router, post(("cookie", session.clone()))).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.text());
    // Past the checks: the run has ended, so there is nothing to terminate.
    let bearer = send(
        &router,
        post(("authorization", "Bearer s3cret token".to_owned())),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::CONFLICT, "{}", bearer.text());
}

async fn get_with(router: &axum::Router, uri: &str, auth: &str) -> Answer {
    send(
        router,
        Request::get(uri)
            .header("authorization", auth)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_console_answers_only_to_its_own_names() {
    let fx = Fixture::new().await;
    let router = fx.open_router();
    for host in ["evil.example:8080", "127.0.0.1:9999", ""] {
        let answer = send(
            &router,
            Request::get("/api/objects")
                .header("host", host)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
        let answer = send(
            &router,
            Request::get("/api/objects")
                .header("host", host)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_allow_actions_and_the_csrf_token() {
    let fx = Fixture::new().await;
    // A submitted run with no worker: pending until resumed.
    let source = fx.source("pending", &[("p.txt", b"p".as_slice())]);
    let run = fx
        .service()
        .submit(&ocfl_durable::CommitRequest::new("pending", &source))
        .await
        .expect("submit")
        .run;
    let closed = fx.router(ConsoleOptions {
        allowed_hosts: Vec::new(),
        ..ConsoleOptions::default()
    });
    let page = get(&closed, "/runs").await.text();
    assert!(
        page.contains(&run) && !page.contains("data-action=\"resume\""),
        "{page}"
    );
    let refused = send(&closed, form_post(&format!("/runs/{run}/resume"), "csrf=x")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let router = fx.open_router();
    let page = get(&router, "/runs").await.text();
    assert!(page.contains("data-action=\"resume\""), "{page}");
    let csrf = get(&router, "/api/session").await.json()["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();
    assert!(page.contains(&csrf), "the forms carry the CSRF token");
    let forged = send(
        &router,
        form_post(&format!("/runs/{run}/resume"), "csrf=guess"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = send(&router, form_post(&format!("/runs/{run}/resume"), "")).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let worker = fx.worker();
    let resumed = send(
        &router,
        form_post(&format!("/runs/{run}/resume"), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let shown = get(&router, &format!("/api/runs/{run}")).await.json();
        if shown["state"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{shown}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A second run, pending: the API's terminate with the CSRF header passes the checks
    // and explains why it cannot act yet.
    let source = fx.source("pending2", &[("q.txt", b"q".as_slice())]);
    worker.shutdown().await;
    let run = fx
        .service()
        .submit(&ocfl_durable::CommitRequest::new("pending", &source))
        .await
        .expect("submit")
        .run;
    let terminated = send(
        &router,
        Request::post(format!("/api/runs/{run}/terminate"))
            .header("host", HOST)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        terminated.status,
        StatusCode::CONFLICT,
        "{}",
        terminated.text()
    );
    assert!(
        terminated.text().contains("not started yet"),
        "{}",
        terminated.text()
    );
}

fn form_post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("host", HOST)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}
