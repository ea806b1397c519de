//! Where `ocfl` looks for the storage root and puts its work area: `--root` and
//! `--work-area` are local paths or URLs (`file://`, `s3://`), any other scheme is refused
//! without creating anything, and a local name with a colon is still a local directory.

mod commit_support;

use std::fs;
use std::path::Path;
use std::process::Output;

use commit_support::snapshot::Snapshot;
use commit_support::*;

const ID: &str = "ark:/12345/bcd987";

/// `ocfl args...` run in `dir`, with `env` set.
fn ocfl_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = ocfl_command();
    command.current_dir(dir).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run ocfl")
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

#[test]
fn a_root_url_of_another_scheme_is_refused_naming_it_and_creates_nothing() {
    let dir = scratch();
    let source = dir.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    let before = Snapshot::of(dir.path());
    for (url, scheme) in [("s3x://b/p", "\"s3x\""), ("gs://bucket/p", "\"gs\"")] {
        for args in [
            vec!["--root", url, "init"],
            vec!["--root", url, "ls"],
            vec!["--root", url, "commit", ID, "src"],
        ] {
            let output = ocfl_in(dir.path(), &[], &args);
            let err = stderr(&output);
            assert_eq!(code(&output), 2, "{args:?}: {err}");
            assert!(err.contains(scheme) && err.contains("--root"), "{err}");
        }
        // The same from the environment.
        let output = ocfl_in(dir.path(), &[("OCFL_ROOT", url)], &["init"]);
        assert_eq!(code(&output), 2, "{}", stderr(&output));
        assert!(stderr(&output).contains(scheme), "{}", stderr(&output));
    }
    assert!(!dir.path().join("s3x:").exists());
    before.assert_unchanged(dir.path(), "after refused URLs");
}

#[test]
fn an_s3_root_is_refused_by_every_command_that_does_not_support_it_yet() {
    let dir = scratch();
    let source = dir.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    let before = Snapshot::of(dir.path());
    // `example` makes a local root of its own; every other command takes S3 roots.
    let output = ocfl_in(
        dir.path(),
        &[],
        &["--root", "s3://bucket/archive", "example"],
    );
    let err = stderr(&output);
    assert_eq!(code(&output), 1, "{err}");
    assert_eq!(
        err.trim_end(),
        "ocfl: error: storage root s3://bucket/archive: `ocfl example` does not support S3 \
         storage roots yet (on S3 this build runs validate, ls, log, show, diff, cat, export, \
         info and init, commit, put, revert, rollback, upgrade, purge, resume, runs, worker, \
         serve; use a local directory)"
    );
    // An S3 URL that is not valid is a usage error naming what is wrong.
    let output = ocfl_in(dir.path(), &[], &["--root", "s3://bucket//p", "ls"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("empty element"),
        "{}",
        stderr(&output)
    );
    before.assert_unchanged(dir.path(), "after refused S3 roots");
}

#[test]
fn a_local_root_named_with_a_colon_is_a_directory() {
    let dir = scratch();
    let source = dir.path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    ok(&ocfl_in(dir.path(), &[], &["--root", "./a:b", "init"]));
    assert!(dir.path().join("a:b/0=ocfl_1.1").is_file());
    ok(&ocfl_in(
        dir.path(),
        &[],
        &["--root", "a:b", "commit", ID, "src"],
    ));
    let listed = ocfl_in(dir.path(), &[("OCFL_ROOT", "./a:b")], &["ls"]);
    assert_eq!(stdout(ok(&listed)).trim(), ID);
    assert!(dir.path().join("a:b.ocfl-work/state.redb").is_file());
}

#[test]
fn a_file_url_names_a_local_root() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n")]);
    root.commit(ID, &source, &[]);
    let url = format!("file://{}", root.path().display());
    let listed = ocfl(&["--root", &url, "ls"]);
    assert_eq!(stdout(ok(&listed)).trim(), ID);
}

#[test]
fn an_explicit_work_area_holds_the_store_and_the_runs_data() {
    let root = Root::new();
    let source = root.dir_path().join("src");
    write_tree(&source, &[("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n")]);
    let work = root.dir_path().join("scratch/work");
    let with_work = |args: &[&str]| {
        let mut command = root.command(&[]);
        command.arg("--work-area").arg(&work).args(args);
        command.output().expect("run ocfl")
    };
    let committed = with_work(&["commit", ID, utf8(&source), "--json"]);
    assert_eq!(json_lines(ok(&committed))[0]["version"], "v1");
    assert!(work.join("state.redb").is_file());
    assert!(!root.dir_path().join("root.ocfl-work").exists());
    root.assert_holds(ID, &source);
    // The runs are in that store, and only there.
    let runs = with_work(&["runs", "--all", "--json"]);
    assert_eq!(json_lines(ok(&runs)).len(), 1);
    assert_eq!(stdout(ok(&root.ocfl(&["runs", "--all", "--json"]))), "");
    // From the environment too, and purge moves objects out through it.
    let purged = ocfl_command()
        .env("OCFL_WORK_AREA", &work)
        .arg("--root")
        .arg(root.path())
        .args(["purge", ID, "--yes"])
        .output()
        .expect("run ocfl");
    ok(&purged);
    assert!(!root.dir_path().join("root.ocfl-work").exists());
    ok(&root.ocfl(&["validate"]));
    // A work area inside the root, or an S3 one for a local root, is refused creating nothing.
    let before = Snapshot::of(root.dir_path());
    let inside = root.path().join("work");
    for (area, why) in [
        (utf8(&inside), "outside the storage root"),
        ("s3://bucket/work", "must be a local directory"),
    ] {
        let output = ocfl(&[
            "--root",
            utf8(&root.path()),
            "--work-area",
            area,
            "commit",
            ID,
            utf8(&source),
        ]);
        assert_eq!(code(&output), 1, "{}", stderr(&output));
        assert!(stderr(&output).contains(why), "{}", stderr(&output));
    }
    before.assert_unchanged(root.dir_path(), "after refused work areas");
    fs::remove_dir_all(&work).expect("clean up");
}
