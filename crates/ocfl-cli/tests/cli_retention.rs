//! `ocfl runs --limit/--after` (pages with a cursor) and `ocfl runs purge` (finished runs go,
//! with what they left in the work area; the embedded store is compacted).

mod commit_support;

use std::collections::BTreeSet;
use std::fs;

use commit_support::*;
use serde_json::Value;

fn commit_objects(root: &Root, count: usize) -> BTreeSet<String> {
    (0..count)
        .map(|n| {
            let source = root.dir.path().join(format!("src{n}"));
            write_tree(&source, &[("a.txt", format!("{n}\n").as_bytes())]);
            root.commit(&format!("obj-{n}"), &source, &[])["run"]
                .as_str()
                .expect("run id")
                .to_owned()
        })
        .collect()
}

/// `runs --json` lines: the runs, then (when paging) the `{"next"}` line.
fn page(root: &Root, args: &[&str]) -> (Vec<String>, Value) {
    let output = root.ocfl(args);
    ok(&output);
    let mut lines = json_lines(&output);
    let last = lines.pop().expect("the next line");
    assert_eq!(keys(&last), ["next"], "{last}");
    let runs = lines
        .iter()
        .map(|line| line["run"].as_str().expect("run").to_owned())
        .collect();
    (runs, last["next"].clone())
}

#[test]
fn runs_page_with_a_cursor() {
    let root = Root::new();
    let committed = commit_objects(&root, 3);
    let (first, next) = page(&root, &["runs", "--all", "--limit", "2", "--json"]);
    assert_eq!(first.len(), 2);
    let cursor = next.as_str().expect("a cursor: one run is left").to_owned();
    assert_eq!(Some(&cursor), first.last());
    let (second, next) = page(
        &root,
        &[
            "runs", "--all", "--limit", "2", "--after", &cursor, "--json",
        ],
    );
    assert_eq!(second.len(), 1);
    assert_eq!(next, Value::Null);
    let listed: Vec<String> = first.into_iter().chain(second).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "in run id order");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), committed);
    // Unfinished only: none.
    let (unfinished, next) = page(&root, &["runs", "--limit", "5", "--json"]);
    assert!(unfinished.is_empty());
    assert_eq!(next, Value::Null);
    // Human output says how to go on.
    let output = root.ocfl(&["runs", "--all", "--limit", "1"]);
    ok(&output);
    assert!(
        stderr(&output).contains("more with --after"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn runs_purge_deletes_old_finished_runs_and_shrinks_the_store() {
    let root = Root::new();
    let committed = commit_objects(&root, 3);
    let purge = |older_than: &str| -> Value {
        let output = root.ocfl(&["runs", "purge", "--older-than", older_than, "--json"]);
        ok(&output);
        let lines = json_lines(&output);
        assert_eq!(lines.len(), 1, "{}", stdout(&output));
        lines[0].clone()
    };
    let none = purge("1h");
    assert_eq!(none["purged"], 0, "{none}");
    // What a clean-up that failed would have left in the work area.
    let run = committed.iter().next().expect("a run");
    let leftover = root.dir.path().join("root.ocfl-work").join(run);
    fs::create_dir_all(&leftover).expect("work dir");
    fs::write(leftover.join("spool"), b"x").expect("spool");

    std::thread::sleep(std::time::Duration::from_millis(5));
    let all = purge("0s");
    assert_eq!(all["purged"], 3, "{all}");
    let purged: BTreeSet<String> = all["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r.as_str().expect("run").to_owned())
        .collect();
    assert_eq!(purged, committed);
    assert!(!leftover.exists(), "the run's work directory is gone");
    let before = all["store_bytes_before"].as_u64().expect("size before");
    let after = all["store_bytes_after"].as_u64().expect("size after");
    assert!(after <= before, "{all}");
    assert_eq!(
        after,
        fs::metadata(root.default_store()).expect("store").len()
    );
    let output = root.ocfl(&["runs", "--all", "--json"]);
    ok(&output);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    // The objects are the root's: they stay.
    for n in 0..3 {
        assert_eq!(root.head(&format!("obj-{n}")), "v1");
    }
}

#[test]
fn durations_are_checked_as_usage_errors() {
    let root = Root::new();
    for (args, culprit) in [
        (vec!["runs", "purge", "--older-than", "30"], "--older-than"),
        (
            vec!["runs", "purge", "--older-than", "soon"],
            "--older-than",
        ),
        (vec!["--retention", "a while", "runs"], "--retention"),
        (vec!["runs", "--limit", "0"], "--limit"),
    ] {
        let output = root.ocfl(&args);
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(culprit),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    for retention in ["forever", "30d", "12h", "90m", "0s", "1d 12h"] {
        ok(&root.ocfl(&["--retention", retention, "runs"]));
    }
}

#[test]
fn purging_a_root_without_a_store_creates_none() {
    let root = Root::new();
    let output = root.ocfl(&["runs", "purge", "--json"]);
    ok(&output);
    assert_eq!(json_lines(&output)[0]["purged"], 0);
    assert!(!root.default_store().exists());
}
