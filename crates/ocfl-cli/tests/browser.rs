//! The console in a real browser: Debian's `chromium` driven over WebDriver
//! (`chromium-driver`), against `ocfl serve` on a temporary root. It watches a commit of
//! 4,000 files advance on the runs page without a reload, opens the object, a version and
//! the diff after an update, downloads a file and compares its bytes, checks that no script
//! runs from hostile file names and ids, and resumes a stalled run (a full tmpfs, then
//! room again) with the page's button. Screenshots of each page go to
//! `target/tmp/console-screenshots/`.
//!
//! Skipped with a message without `chromedriver` and `chromium`; a failure instead under
//! `OCFL_TEST_REQUIRE_SERVICES=1` (`.ci/run` installs both). The stall part needs to mount a
//! tmpfs (root); it is skipped, saying so, where that is refused.

mod commit_support;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commit_support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const HOSTILE_ID: &str = "ark:/13030/\"q\" <b>x</b>";
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "\"><img src=x onerror=alert(2)>";
const BIG_FILES: usize = 4000;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A tmpfs mounted on a new directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { dir })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "remount size={size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `ocfl serve --allow-actions` on `root` with `global` arguments; its URL.
fn serve(root: &Root, global: &[String]) -> (Killed, String) {
    let mut args: Vec<&str> = global.iter().map(String::as_str).collect();
    args.extend(["serve", "--listen", "127.0.0.1:0", "--allow-actions"]);
    let mut child = root
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ocfl serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("URL");
    assert!(line.starts_with("http://"), "{line:?}");
    (Killed(child), line.trim().trim_end_matches('/').to_owned())
}

fn stop(mut served: Killed) {
    let pid = served.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = served.0.wait();
}

/// `GET url+path` as JSON (on a thread of its own: the blocking client may not run on the
/// test's runtime).
fn api(url: &str, path: &str) -> Value {
    let target = format!("{url}{path}");
    std::thread::spawn(move || {
        let body = reqwest::blocking::get(target)
            .expect("GET")
            .bytes()
            .expect("body");
        serde_json::from_slice(&body).expect("JSON")
    })
    .join()
    .expect("the request's thread")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("save screenshot");
}

/// Fails if a script of the page's content ran: an alert is open, an image was made of a
/// name, or a script element other than the console's own exists.
async fn assert_no_injected_script(client: &Client, page: &str) {
    if let Ok(text) = client.get_alert_text().await {
        panic!("{page}: an alert opened: {text:?}");
    }
    let counts = client
        .execute(
            "return [document.querySelectorAll('img').length, \
             Array.from(document.scripts).filter(s => !s.src.endsWith('/assets/console.js')).length, \
             window.__injected === undefined];",
            vec![],
        )
        .await
        .expect("execute");
    assert_eq!(counts, json!([0, 0, true]), "{page}");
}

/// The text of the element `css` finds; found again if the page replaced it between the
/// two calls (a reload after an action, or a live update).
async fn text_of(client: &Client, css: &str) -> String {
    // A page still loading (after an action's redirect, on a loaded machine) has no such
    // element yet, and one replaced by a live update goes stale: both are tried again, for a
    // while.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await,
            Err(error) => Err(error),
        };
        match text {
            Ok(text) => return text,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{css}: {error}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_console_in_a_browser() {
    if !installed("chromedriver") || !installed("chromium") {
        test_support::skip_installed_peer(
            "chromium and chromium-driver",
            "the browser test drives Debian's chromium over WebDriver (apt-get install \
             chromium chromium-driver)",
        );
        return;
    }
    let tmpfs = Tmpfs::mount("256m");
    if tmpfs.is_none() {
        eprintln!(
            "note: cannot mount a tmpfs: the stalled-run part of the browser test is skipped"
        );
    }
    let outside = tempfile::tempdir().expect("tempdir");
    let root = match &tmpfs {
        Some(fs) => Root::new_in(fs.dir.path()),
        None => Root::new(),
    };
    let state = outside.path().join("state.redb");
    let global = vec![
        "--state".to_owned(),
        state.to_str().expect("utf-8").to_owned(),
    ];
    let with = |args: &[&str]| -> Vec<String> {
        global
            .iter()
            .cloned()
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect()
    };
    let run_ocfl = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        root.ocfl(&args)
    };

    // The hostile object at v1, then a detached commit of many files for the page to watch.
    let v1 = outside.path().join("v1");
    write_tree(
        &v1,
        &[("a.txt", b"alpha\n"), (SCRIPT_NAME, b"s"), (IMG_NAME, b"i")],
    );
    ok(&run_ocfl(with(&[
        "commit",
        HOSTILE_ID,
        v1.to_str().expect("utf-8"),
    ])));
    let big = outside.path().join("big");
    let names: Vec<String> = (0..BIG_FILES)
        .map(|n| format!("d{}/f{n}.txt", n % 40))
        .collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    write_tree(&big, &files);
    let driver_port = free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    let (served, url) = serve(&root, &global);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,860"]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver: {e}"),
        }
    };

    // Runs: the big run's progress advances on the page without a reload.
    client
        .goto(&format!("{url}/runs"))
        .await
        .expect("runs page");
    // Every value the steps cells take, as the page sets them (sampling would miss changes
    // that come faster than it looks).
    client
        .execute(
            "window.__notReloaded = true; window.__steps = []; \
             new MutationObserver(function (changes) { changes.forEach(function (c) { \
               var cell = c.target.nodeType === 1 ? c.target : c.target.parentElement; \
               if (cell && cell.getAttribute('data-field') === 'steps') { \
                 window.__steps.push([cell.parentElement.getAttribute('data-run'), cell.textContent]); \
               } }); }).observe(document.body, {subtree: true, childList: true, characterData: true}); \
             return true;",
            vec![],
        )
        .await
        .expect("mark");
    let detached = json_lines(ok(&run_ocfl(with(&[
        "commit",
        "big",
        big.to_str().expect("utf-8"),
        "--detach",
        "--json",
    ]))));
    // Submitted from "another terminal" while the console holds the store: it reaches the
    // console over its socket, and the page inserts the new run's row live.
    let big_run = detached[0]["run"].as_str().expect("run").to_owned();

    let row = format!("tr[data-run='{big_run}']");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .find_all(Locator::Css(&row))
        .await
        .expect("rows")
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the new run's row never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        client
            .find_all(Locator::Css(&format!("{row} button[data-action=resume]")))
            .await
            .expect("buttons")
            .len(),
        1,
        "the inserted row offers the actions"
    );
    let mut seen = Vec::new();
    let mut shot = false;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let steps = text_of(&client, &format!("{row} [data-field=steps]")).await;
        let state = text_of(&client, &format!("{row} [data-field=state]")).await;
        if seen.last() != Some(&steps) {
            seen.push(steps.clone());
            if !shot && steps != "0/0" && state == "running" {
                shoot(&client, "runs").await;
                shot = true;
            }
        }
        if state == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not complete: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let observed = client
        .execute("return window.__steps;", vec![])
        .await
        .expect("observed steps");
    let mut steps: Vec<String> = observed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|change| change[0] == big_run.as_str())
        .map(|change| change[1].as_str().unwrap_or_default().to_owned())
        .collect();
    steps.dedup();
    // At least the plan's total, a first step and the end, each pushed to the page.
    assert!(
        steps.len() >= 3,
        "progress advanced in at least two updates: {steps:?} (sampled: {seen:?})"
    );
    let not_reloaded = client
        .execute("return window.__notReloaded === true;", vec![])
        .await
        .expect("marker");
    assert_eq!(not_reloaded, json!(true), "the page was reloaded");
    assert!(
        seen.last()
            .is_some_and(|s| s.starts_with(&format!("{}/", BIG_FILES + 10))),
        "{seen:?}"
    );

    // An update of the hostile object, committed while the console serves.
    let v2 = outside.path().join("v2");
    write_tree(
        &v2,
        &[
            ("a.txt", b"alpha, again\n"),
            ("b.txt", b"bravo\n"),
            (SCRIPT_NAME, b"s"),
            (IMG_NAME, b"i"),
        ],
    );
    ok(&run_ocfl(with(&[
        "commit",
        HOSTILE_ID,
        v2.to_str().expect("utf-8"),
    ])));
    // A run that stalls on a full disk.
    let stalled_run = tmpfs.as_ref().map(|fs| {
        let used = fs2_used(fs.dir.path());
        fs.resize(&format!("{}k", used / 1024 + 512));
        let heavy = outside.path().join("heavy");
        let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        write_tree(&heavy, &[("heavy.bin", &bytes)]);
        let detached = json_lines(ok(&run_ocfl(with(&[
            "commit",
            "heavy",
            heavy.to_str().expect("utf-8"),
            "--detach",
            "--json",
        ]))));
        (detached[0]["run"].as_str().expect("run").to_owned(), heavy)
    });

    // Objects: the hostile id, its versions, a version with hostile names, the diff.
    client
        .goto(&format!("{url}/objects"))
        .await
        .expect("objects");
    assert_no_injected_script(&client, "objects").await;
    client
        .find(Locator::LinkText(HOSTILE_ID))
        .await
        .expect("the object's link, its id as text")
        .click()
        .await
        .expect("open the object");
    assert_no_injected_script(&client, "object").await;
    let heading = text_of(&client, "h1").await;
    assert_eq!(heading, format!("Object {HOSTILE_ID}"));
    shoot(&client, "object").await;
    client
        .find(Locator::LinkText("v1"))
        .await
        .expect("v1 link")
        .click()
        .await
        .expect("open v1");
    assert_no_injected_script(&client, "version").await;
    let paths = client
        .execute(
            "return Array.from(document.querySelectorAll('td.path')).map(td => td.textContent);",
            vec![],
        )
        .await
        .expect("paths");
    let mut expected = vec!["a.txt", SCRIPT_NAME, IMG_NAME];
    expected.sort();
    assert_eq!(paths, json!(expected), "the names shown as text");
    shoot(&client, "version").await;

    // Download a.txt of v1 in the page and compare its bytes.
    let href = client
        .execute(
            "return Array.from(document.querySelectorAll('tr')).find(tr => \
             tr.querySelector('td.path') && tr.querySelector('td.path').textContent === 'a.txt')\
             .querySelector('a.download').href;",
            vec![],
        )
        .await
        .expect("href");
    let downloaded = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))));",
            vec![href],
        )
        .await
        .expect("download");
    assert_eq!(downloaded, json!(b"alpha\n".to_vec()));

    let object_url = client.current_url().await.expect("url");
    let diff_url = object_url
        .as_str()
        .split("/versions/")
        .next()
        .expect("object url")
        .to_owned()
        + "/diff?from=v1&to=v2";
    client.goto(&diff_url).await.expect("diff");
    assert_no_injected_script(&client, "diff").await;
    let changes = client
        .execute(
            "return Array.from(document.querySelectorAll('table.diff tbody tr'))\
             .map(tr => tr.className + ' ' + tr.querySelector('td.path').textContent);",
            vec![],
        )
        .await
        .expect("changes");
    assert_eq!(changes, json!(["modified a.txt", "added b.txt"]));
    shoot(&client, "diff").await;

    // Workers: the embedded store records none, and the page says why.
    client
        .find(Locator::LinkText("Workers"))
        .await
        .expect("the Workers link")
        .click()
        .await
        .expect("open Workers");
    let note = text_of(&client, "#not-recorded").await;
    assert!(note.contains("shared PostgreSQL store"), "{note}");
    shoot(&client, "workers").await;

    // The stalled run, resumed with its button once there is room again.
    if let (Some(fs), Some((run, heavy))) = (&tmpfs, &stalled_run) {
        let deadline = Instant::now() + Duration::from_secs(240);
        while api(&url, &format!("/api/runs/{run}"))["state"] != "stalled" {
            assert!(
                Instant::now() < deadline,
                "{}",
                api(&url, &format!("/api/runs/{run}"))
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        client
            .goto(&format!("{url}/runs/{run}"))
            .await
            .expect("run page");
        let state = text_of(&client, "td[data-field=state]").await;
        assert_eq!(state, "stalled");
        shoot(&client, "stalled-run").await;
        fs.resize("256m");
        client
            .find(Locator::Css("button[data-action=resume]"))
            .await
            .expect("the resume button")
            .click()
            .await
            .expect("resume");
        // Generous: on a loaded machine the retried write and the verification take a while.
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let state = text_of(&client, "td[data-field=state]").await;
            if state == "completed" {
                break;
            }
            assert!(Instant::now() < deadline, "the resumed run is {state}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        shoot(&client, "resumed-run").await;
        stop(served);
        let args = with(&["validate", "heavy"]);
        ok(&run_ocfl(args));
        let exported = outside.path().join("heavy-out");
        ok(&run_ocfl(with(&[
            "export",
            "heavy",
            exported.to_str().expect("utf-8"),
        ])));
        assert!(read_tree(&exported) == read_tree(heavy));
    } else {
        stop(served);
    }
    client.close().await.expect("close the browser");
}

/// Bytes in use on the filesystem holding `path`.
fn fs2_used(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=used", "-B1"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df's figure")
}
