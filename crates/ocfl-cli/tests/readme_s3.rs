//! The README's example for S3 ("Storage roots in S3"), run as written against the test
//! server (moto in CI): its shell lines are read from the README, the bucket and the server
//! replaced by the test's, the deposits by generated directories; every `ocfl` command must
//! succeed, and `cat` must print the file it names. Without `OCFL_TEST_S3_ENDPOINT` the test
//! says it is skipped; under `OCFL_TEST_REQUIRE_SERVICES=1` it fails instead.

mod commit_support;

use std::collections::BTreeMap;
use std::path::Path;

use commit_support::*;

const README: &str = include_str!("../../../README.md");

/// The shell lines of the first indented block after `heading`, continuations joined.
fn example(heading: &str) -> Vec<String> {
    let section = README
        .split_once(heading)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"))
        .1;
    let mut lines = Vec::new();
    let mut pending = String::new();
    let mut started = false;
    for line in section.lines() {
        let Some(code) = line.strip_prefix("    ") else {
            if started && line.trim().is_empty() {
                break;
            }
            continue;
        };
        started = true;
        let code = code.trim();
        match code.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(code);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// The words of a shell line, without its comment.
fn words(line: &str) -> Vec<String> {
    let code = line.split(" #").next().unwrap_or(line);
    shlex::split(code).unwrap_or_else(|| panic!("not a shell line: {line}"))
}

/// What the README's deposits hold, by version.
fn deposit(dir: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, &[u8])> = match name {
        "bcd987" => vec![
            ("README.txt", b"The first deposit.\n"),
            ("data/page-1.txt", b"page one\n"),
        ],
        _ => vec![
            ("README.txt", b"The deposit, corrected.\n"),
            ("data/page-1.txt", b"page one, corrected\n"),
            ("data/page-2.txt", b"page two\n"),
        ],
    };
    write_tree(&dir.join(name), &files);
    files
        .into_iter()
        .map(|(p, b)| (p.to_owned(), b.to_vec()))
        .collect()
}

#[test]
fn the_readme_s3_example_runs() {
    let Some(endpoint) = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3") else {
        eprintln!("the_readme_s3_example_runs: skipped");
        return;
    };
    let lines = example("## Storage roots in S3");
    let ocfl_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("ocfl ")).collect();
    assert!(ocfl_lines.len() >= 5, "the example runs ocfl: {lines:#?}");
    let dir = scratch();
    let deposits = dir.path().join("deposits");
    let mut sources = BTreeMap::new();
    for name in ["bcd987", "bcd987-v2"] {
        sources.insert(name.to_owned(), deposit(&deposits, name));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let bucket = format!("ocfl-readme-{}-{nanos}", std::process::id());
    // The README's bucket, server and deposits, as the test has them.
    let local = |word: &str| -> String {
        word.replace("s3://archive/", &format!("s3://{bucket}/"))
            .replace(
                "http://127.0.0.1:9000/archive",
                &format!("{endpoint}/{bucket}"),
            )
            .replace("http://127.0.0.1:9000", &endpoint)
            .replace("/deposits/", &format!("{}/", deposits.display()))
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let mut ran = Vec::new();
    let mut last_version = BTreeMap::new();
    for line in &lines {
        let words: Vec<String> = words(line).iter().map(|w| local(w)).collect();
        match words.first().map(String::as_str) {
            // The test server is already running.
            Some("moto_server") => {}
            Some("curl") => {
                assert_eq!(words[1..3], ["-X", "PUT"], "{line}");
                let created = reqwest::blocking::Client::new()
                    .put(&words[3])
                    .send()
                    .expect("create the bucket");
                assert!(
                    created.status().is_success(),
                    "{line}: {}",
                    created.status()
                );
            }
            Some("export") => {
                for assignment in &words[1..] {
                    let (name, value) = assignment
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{line}: {assignment}"));
                    env.push((name.to_owned(), value.to_owned()));
                }
            }
            Some("ocfl") => {
                let mut command = ocfl_command();
                command
                    .env("XDG_STATE_HOME", dir.path().join("state"))
                    .env_remove("AWS_SESSION_TOKEN");
                for (name, value) in &env {
                    command.env(name, value);
                }
                let output = command.args(&words[1..]).output().expect("run ocfl");
                assert_eq!(
                    code(&output),
                    0,
                    "{line}\nstdout:\n{}\nstderr:\n{}",
                    stdout(&output),
                    stderr(&output)
                );
                if words[1] == "commit" {
                    let name = Path::new(&words[3])
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("a deposit")
                        .to_owned();
                    let version = format!("v{}", last_version.len() + 1);
                    last_version.insert(version, name);
                }
                if words[1] == "cat" {
                    let version = words
                        .iter()
                        .position(|w| w == "--version")
                        .map_or_else(|| "v2".to_owned(), |i| words[i + 1].clone());
                    let deposit = &sources[&last_version[&version]];
                    assert_eq!(output.stdout, deposit[&words[3]], "{line}");
                }
                ran.push(words[1].clone());
            }
            other => panic!("{line}: the test does not know how to run {other:?}"),
        }
    }
    eprintln!("ran the README's S3 example: ocfl {}", ran.join(", ocfl "));
    assert!(
        env.iter()
            .any(|(name, value)| name == "OCFL_ROOT" && value.starts_with("s3://"))
    );
}
