//! `ocfl commit` killed with SIGKILL at seeded random moments, then run again: every time
//! the object ends valid and byte-identical to the source, and the store records exactly
//! one completed run that wrote each version.
//!
//! Each seed commits a tree of 1,500 small files: even seeds create a new
//! object, odd seeds make its v2 from the same tree with files changed, added and removed.
//! The kill lands anywhere from before the store is opened to after the run completed,
//! spread over the time one uninterrupted commit takes (measured first). The trees live on
//! a RAM filesystem when there is one (`/dev/shm`): a kill does not lose the page cache, so
//! flushing to a disk would only make the test slower, not stronger.

mod commit_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use commit_support::*;
use serde_json::Value;

const SEEDS: u64 = 20;
const FILES: usize = 1500;

/// Changes, adds and removes about 5% of the files of `dir`.
fn mutate(dir: &Path, rng: &mut Rng) {
    let files: Vec<String> = read_tree(dir).into_keys().collect();
    for (i, path) in files.iter().enumerate() {
        match rng.below(60) {
            0 => fs::write(dir.join(path), format!("changed {i}\n")).expect("change"),
            1 => fs::remove_file(dir.join(path)).expect("remove"),
            2 => fs::write(dir.join(format!("{path}.added")), format!("added {i}\n")).expect("add"),
            _ => {}
        }
    }
}

#[test]
fn commits_killed_at_random_moments_end_valid_after_a_rerun() {
    let scratch = scratch();
    let root = Root::new_in(scratch.path());
    let mut rng = Rng::new(0x6f63_666c);

    // One uninterrupted commit of the same size: how long the kills are spread over.
    let calibration = root.dir_path().join("calibration");
    many_files(&calibration, FILES, &mut rng);
    let started = Instant::now();
    let line = root.commit("info:calibration", &calibration, &[]);
    let span = started.elapsed();
    assert_eq!(line["changed"], true);
    // (object, version) -> the run that wrote it, for every commit made.
    let mut commits: BTreeMap<(String, String), String> = BTreeMap::new();
    commits.insert(("info:calibration".into(), "v1".into()), run_of(&line));
    let mut no_op_runs = 0;

    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let object = format!("info:kill-{}", seed / 2);
        let source = root.dir_path().join(format!("tree-{}", seed / 2));
        let version = if seed % 2 == 0 {
            many_files(&source, FILES, &mut rng);
            "v1"
        } else {
            mutate(&source, &mut rng);
            "v2"
        };
        let src = source.to_str().expect("utf-8");
        let args = [
            "commit",
            object.as_str(),
            src,
            "--message",
            version,
            "--json",
        ];

        // Anywhere from 0 to 110% of an uninterrupted commit.
        let delay = span.mul_f64(rng.below(1100) as f64 / 1000.0);
        let mut child = root
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ocfl");
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        let killed = child.wait().expect("wait");

        let rerun = Instant::now();
        let output = root.ocfl(&args);
        eprintln!(
            "seed {seed}: killed after {delay:?}; rerun took {:?}",
            rerun.elapsed()
        );
        let line = &json_lines(ok(&output))[0];
        assert_eq!(line["version"], version, "seed {seed}: {line}");
        root.assert_holds(&object, &source);
        if line["changed"] == true {
            commits.insert((object.clone(), version.into()), run_of(line));
        } else {
            // The killed process had finished (its exit status says it ran to the end or
            // was killed after completing); the rerun found nothing to do.
            no_op_runs += 1;
            eprintln!("seed {seed}: killed after the run completed ({killed})");
        }
    }

    let runs = json_lines(ok(&root.ocfl(&["runs", "--all", "--json"])));
    for run in &runs {
        assert_eq!(run["state"], "completed", "{run}");
    }
    let writers: Vec<&Value> = runs.iter().filter(|r| r["changed"] == true).collect();
    let no_ops = runs.iter().filter(|r| r["changed"] == false).count();
    assert_eq!(
        no_ops, no_op_runs,
        "unchanged runs: only reruns after a completed run"
    );
    // Exactly one completed run wrote each version: the one each rerun reported, or for
    // the versions the killed process finished, exactly one other.
    let mut written: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for run in &writers {
        let key = (
            run["id"].as_str().expect("id").to_owned(),
            run["version"].as_str().expect("version").to_owned(),
        );
        written.entry(key).or_default().push(run_of(run));
    }
    assert_eq!(
        written.len() as u64,
        1 + SEEDS,
        "every commit wrote exactly one version"
    );
    for (key, runs) in &written {
        assert_eq!(runs.len(), 1, "{key:?} was written by {runs:?}");
        if let Some(reported) = commits.get(key) {
            assert_eq!(&runs[0], reported, "{key:?}");
        }
    }
    ok(&root.ocfl(&["validate"]));
}

fn run_of(line: &Value) -> String {
    line["run"].as_str().expect("run").to_owned()
}
