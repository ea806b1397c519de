//! `ocfl serve`: the console over a real root and its embedded store, asked over HTTP; its
//! API answers with the shapes of the `--json` lines of `ocfl ls`, `log`, `show`, `diff`
//! and `runs`; it runs submitted runs as `ocfl worker` does; a non-loopback address needs a
//! token.

mod commit_support;
mod s3_support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use commit_support::*;
use s3_support::Bucket;
use serde_json::Value;

/// A running `ocfl serve` and its URL; killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(root: &Root, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Served::spawn(root.command(&args))
    }

    fn spawn(mut command: std::process::Command) -> Served {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ocfl serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the URL line");
        assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
        Served {
            child,
            url: line.trim_end().trim_end_matches('/').to_owned(),
        }
    }

    fn get(&self, path: &str) -> Value {
        let response = reqwest::blocking::get(format!("{}{path}", self.url)).expect("GET");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        serde_json::from_slice(&response.bytes().expect("body")).expect("JSON")
    }

    /// The first page of objects, once the console has listed the root.
    fn objects(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page = self.get("/api/objects");
            if page["complete"] == true {
                return page;
            }
            assert!(Instant::now() < deadline, "the root was not listed: {page}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with SIGTERM, as an operator would, and waits: the store is released.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "ocfl serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.child
                .try_wait()
                .expect("wait")
                .is_some_and(|s| s.success())
        );
    }
}

#[test]
fn the_api_has_the_shapes_of_the_json_lines() {
    let root = Root::new();
    let v1 = root.dir_path().join("v1");
    write_tree(&v1, &[("a.txt", b"one"), ("d/b.txt", b"two")]);
    root.commit("ark:/1/x", &v1, &[]);
    let v2 = root.dir_path().join("v2");
    write_tree(&v2, &[("a.txt", b"one!"), ("c.txt", b"three")]);
    root.commit("ark:/1/x", &v2, &["--message", "second <b>"]);
    let ls = json_lines(ok(&root.ocfl(&["ls", "--json"])));
    let log = json_lines(ok(&root.ocfl(&["log", "ark:/1/x", "--json"])));
    let show = json_lines(ok(&root.ocfl(&[
        "show",
        "ark:/1/x",
        "--version",
        "v1",
        "--json",
    ])));
    let diff = json_lines(ok(&root.ocfl(&["diff", "ark:/1/x", "v1", "v2", "--json"])));
    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));

    let served = Served::start(&root, &[]);
    let id = "ark%3A%2F1%2Fx";
    assert_eq!(served.objects()["objects"], Value::Array(ls));
    let object = served.get(&format!("/api/objects/{id}"));
    let versions = object["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), log.len());
    for (api, cli) in versions.iter().zip(&log) {
        for key in keys(cli) {
            assert_eq!(api[&key], cli[&key], "{key}");
        }
    }
    let version = served.get(&format!("/api/objects/{id}/versions/v1"));
    for key in keys(&show[0]) {
        assert_eq!(version[&key], show[0][&key], "{key}");
    }
    let changes = served.get(&format!("/api/objects/{id}/diff?from=v1&to=v2"));
    assert_eq!(changes["changes"], Value::Array(diff));
    let api_runs = served.get("/api/runs?all=true");
    let api_runs = api_runs["runs"].as_array().expect("runs");
    assert_eq!(api_runs.len(), runs.len());
    for cli in &runs {
        let api = api_runs
            .iter()
            .find(|r| r["run"] == cli["run"])
            .expect("the same runs");
        for key in keys(cli) {
            assert_eq!(api[&key], cli[&key], "{key}");
        }
    }
    let download = reqwest::blocking::get(format!(
        "{}/api/objects/{id}/versions/v2/files/a.txt",
        served.url
    ))
    .expect("download");
    assert_eq!(download.bytes().expect("bytes").as_ref(), b"one!");
    served.stop();
}

#[test]
fn the_console_runs_submitted_runs() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("x.txt", b"x")]);
    let submitted = json_lines(ok(&root.ocfl(&[
        "commit",
        "detached",
        source.to_str().expect("utf-8"),
        "--detach",
        "--json",
    ])));
    let run = submitted[0]["run"].as_str().expect("run").to_owned();
    let served = Served::start(&root, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = served.get(&format!("/api/runs/{run}"));
        if shown["state"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "{shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
    served.stop();
    root.assert_holds("detached", &source);
}

#[test]
fn other_addresses_need_a_token() {
    let root = Root::new();
    let refused = root.ocfl(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--token"), "{}", stderr(&refused));
    assert!(
        !root.default_store().exists(),
        "a refused command creates nothing"
    );
}

/// While the console holds the embedded store, `commit` (waiting or detached), `runs` and
/// `resume` typed in another terminal reach it over the socket beside the store instead of
/// waiting for the store (`--wait 3` would give up).
#[test]
fn commands_in_another_terminal_reach_the_console() {
    let root = Root::new();
    let served = Served::start(&root, &[]);
    let v1 = root.dir_path().join("v1");
    write_tree(&v1, &[("a.txt", b"alpha")]);
    let committed = json_lines(ok(&root.ocfl(&[
        "--wait",
        "3",
        "commit",
        "ark:/f/1",
        v1.to_str().expect("utf-8"),
        "--json",
    ])));
    assert_eq!(committed[0]["version"], "v1", "{committed:?}");
    assert_eq!(committed[0]["changed"], true);
    let v2 = root.dir_path().join("v2");
    write_tree(&v2, &[("a.txt", b"alpha"), ("b.txt", b"bravo")]);
    let detached = json_lines(ok(&root.ocfl(&[
        "--wait",
        "3",
        "commit",
        "ark:/f/1",
        v2.to_str().expect("utf-8"),
        "--detach",
        "--json",
    ])));
    let run = detached[0]["run"].as_str().expect("run").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while served.get(&format!("/api/runs/{run}"))["state"] != "completed" {
        assert!(Instant::now() < deadline, "the console did not run {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let runs = json_lines(ok(&root.ocfl(&["--wait", "3", "runs", "--all", "--json"])));
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter()
            .any(|r| r["run"] == run.as_str() && r["version"] == "v2")
    );
    let page = json_lines(ok(
        &root.ocfl(&["--wait", "3", "runs", "--all", "--limit", "1", "--json"])
    ));
    assert_eq!(page.len(), 2, "one run and the next line: {page:?}");
    let shown = json_lines(ok(
        &root.ocfl(&["--wait", "3", "runs", "show", &run, "--json"])
    ));
    assert!(shown[0]["events"].as_array().is_some_and(|e| !e.is_empty()));
    ok(&root.ocfl(&["--wait", "3", "resume"]));
    served.stop();
    assert!(
        !root
            .dir_path()
            .join("root.ocfl-work/state.redb.sock")
            .exists(),
        "the socket goes with the console"
    );
    root.assert_holds("ark:/f/1", &v2);
}

/// The other commands that make or purge runs reach the console too: file-level edits
/// (with a path relative to the terminal's directory, which the console does not share),
/// `put`, `revert`, `upgrade` and `runs purge` (`--wait 3` would give up on the store).
#[test]
fn edits_put_revert_upgrade_and_purge_reach_the_console() {
    let root = Root {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    ok(&root.ocfl(&["init", "--spec", "1.0"]));
    let v1 = root.dir_path().join("v1");
    write_tree(&v1, &[("a.txt", b"alpha")]);
    let served = Served::start(&root, &[]);
    let wait = ["--wait", "3", "--json"];
    let run = |args: &[&str]| -> Vec<Value> {
        let mut all = wait.to_vec();
        all.extend_from_slice(args);
        json_lines(ok(&root
            .command(&all)
            .current_dir(root.dir_path())
            .output()
            .expect("run ocfl")))
    };
    let id = "ark:/e/1";
    run(&["commit", id, v1.to_str().expect("utf-8")]);
    write_tree(&root.dir_path().join("added"), &[("b.txt", b"bravo")]);
    let edited = run(&[
        "commit",
        id,
        "--add",
        "added/b.txt",
        "b.txt",
        "--move",
        "a.txt",
        "c.txt",
    ]);
    assert_eq!(edited[0]["version"], "v2", "{edited:?}");
    let mut put = root
        .command(&["--wait", "3", "--json", "put", id, "d.txt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("put");
    {
        use std::io::Write as _;
        let mut stdin = put.stdin.take().expect("stdin");
        stdin.write_all(b"delta").expect("stdin");
    }
    let put = put.wait_with_output().expect("put");
    assert_eq!(json_lines(ok(&put))[0]["version"], "v3");
    let reverted = run(&["revert", id, "v1"]);
    assert_eq!(reverted[0]["version"], "v4", "{reverted:?}");
    let upgraded = run(&["upgrade"]);
    assert_eq!(upgraded[1]["id"], id, "{upgraded:?}");
    assert_eq!(upgraded[1]["version"], "v5", "{upgraded:?}");
    let shown = served.get(&format!("/api/objects/{}", ocfl_serve::url_segment(id)));
    let versions: Vec<&str> = shown["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_str().expect("version"))
        .collect();
    assert_eq!(versions, ["v5", "v4", "v3", "v2", "v1"], "{shown}");
    let purged = run(&["runs", "purge", "--older-than", "0s"]);
    assert_eq!(purged[0]["purged"], 5, "{purged:?}");
    assert!(run(&["runs", "--all"]).is_empty());
    served.stop();
    let mut state = std::collections::BTreeMap::new();
    state.insert("a.txt".to_owned(), b"alpha".to_vec());
    let out = root.dir_path().join("out");
    ok(&root.ocfl(&["export", id, out.to_str().expect("utf-8")]));
    assert_eq!(read_tree(&out), state);
}

/// On a root in a bucket (moto in CI) the console answers as on a directory: objects,
/// versions, files, diffs and downloads with the shapes of the CLI's lines on that root;
/// a commit typed meanwhile reaches it over the socket beside its embedded store.
#[test]
fn the_console_serves_a_root_in_a_bucket() {
    let Some(bucket) = Bucket::new("serve") else {
        return;
    };
    let id = "ark:/s3/x";
    ok(&bucket.ocfl(&["init"]));
    let v1 = bucket.source("v1", &[("a.txt", b"one"), ("d/b.txt", b"two")]);
    ok(&bucket.ocfl(&["commit", id, &v1]));
    let v2 = bucket.source("v2", &[("a.txt", b"one!"), ("c.txt", b"three")]);
    ok(&bucket.ocfl(&["commit", id, &v2]));
    let ls = json_lines(ok(&bucket.ocfl(&["ls", "--json"])));
    let log = json_lines(ok(&bucket.ocfl(&["log", id, "--json"])));
    let show = json_lines(ok(&bucket.ocfl(&["show", id, "--version", "v1", "--json"])));
    let diff = json_lines(ok(&bucket.ocfl(&["diff", id, "v1", "v2", "--json"])));

    let served =
        Served::spawn(bucket.command_in(&bucket.home(), &["serve", "--listen", "127.0.0.1:0"]));
    let seg = ocfl_serve::url_segment(id);
    assert_eq!(served.objects()["objects"], Value::Array(ls));
    let object = served.get(&format!("/api/objects/{seg}"));
    let versions = object["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    for (api, cli) in versions.iter().zip(&log) {
        for key in keys(cli) {
            assert_eq!(api[&key], cli[&key], "{key}");
        }
    }
    let version = served.get(&format!("/api/objects/{seg}/versions/v1"));
    for key in keys(&show[0]) {
        assert_eq!(version[&key], show[0][&key], "{key}");
    }
    let changes = served.get(&format!("/api/objects/{seg}/diff?from=v1&to=v2"));
    assert_eq!(changes["changes"], Value::Array(diff));
    let download = reqwest::blocking::get(format!(
        "{}/api/objects/{seg}/versions/v1/files/d/b.txt",
        served.url
    ))
    .expect("download");
    assert!(download.status().is_success());
    assert_eq!(download.bytes().expect("bytes").as_ref(), b"two");

    let v3 = bucket.source("v3", &[("e.txt", b"echo")]);
    let committed = json_lines(ok(
        &bucket.ocfl(&["--wait", "3", "--json", "commit", id, &v3])
    ));
    assert_eq!(committed[0]["version"], "v3", "{committed:?}");
    served.stop();
}
