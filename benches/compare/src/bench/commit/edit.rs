//! `cargo xtask bench commit --files N --edit K`: a file-level commit against a full one.
//!
//! An object of N uniform files (1 KiB each, as the memory mode's) is committed as v1 into
//! two roots, untimed. Then, in the same run, K of its files are changed (half replaced with
//! new content, half removed): into one root with `ocfl commit ID --add ... --remove ...`,
//! which reads only the added files; into the other with `ocfl commit ID EDITED_DIR` of the
//! whole edited tree, which reads every file. Last, the first root's object is reverted to
//! v1 (`ocfl revert`, no content copied). Each result is checked untimed (`ocfl validate`,
//! the head state against the expected one). The targets: the file-level commit and the
//! revert each take at most 1/20 of the full commit's time, with a peak RSS of at most
//! 200 MiB.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use super::check::{State, Verdict, check_root, expected_state};
use super::measure::{Measurement, Meter};
use super::tools::{self, Contenders, OBJECT_ID};
use super::tree::{generate_uniform, list_files, write_random_file};
use super::{RSS_TARGET_MIB, commit_once, sync};
use crate::bench::generate::SEED;
use crate::bench::prng::SplitMix64;

/// The size of every file of the object.
const FILE_BYTES: u64 = 1 << 10;

/// A file-level commit (and a revert) at most this fraction of a full commit's time.
pub const TIME_TARGET: f64 = 1.0 / 20.0;

/// What one run of the edit mode measured.
pub struct EditResult {
    pub files: usize,
    pub edit: usize,
    /// v1 of the file-level root (for scale).
    pub first: Measurement,
    /// `commit --add/--remove` of the K changes.
    pub edited: Measurement,
    /// `commit EDITED_DIR` of the whole edited tree.
    pub full: Measurement,
    /// `revert ID v1` of the file-level root.
    pub revert: Measurement,
    /// The checks of the edited, full and reverted objects.
    pub verdicts: [Verdict; 3],
}

impl EditResult {
    fn ratio(&self, of: &Measurement) -> f64 {
        of.seconds / self.full.seconds
    }

    /// Both ratios and peaks within target, every check passed.
    pub fn met(&self) -> bool {
        let fast = |m: &Measurement| self.ratio(m) <= TIME_TARGET;
        let small = |m: &Measurement| {
            m.peak_rss_kib
                .is_some_and(|k| k as f64 / 1024.0 <= RSS_TARGET_MIB)
        };
        self.verdicts.iter().all(Verdict::ok)
            && fast(&self.edited)
            && fast(&self.revert)
            && small(&self.edited)
            && small(&self.revert)
    }
}

/// The K changes: which files are replaced (logical path, new source file) and removed.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    replaced: Vec<(String, PathBuf)>,
    removed: Vec<String>,
}

/// Picks `edit` files spread evenly over `paths` (sorted): the even picks are replaced by a
/// new file under `new_dir`, the odd ones removed.
fn choose_changes(paths: &[String], edit: usize, new_dir: &Path) -> anyhow::Result<Changes> {
    anyhow::ensure!(
        edit >= 1 && edit <= paths.len(),
        "--edit needs between 1 and {} files, not {edit}",
        paths.len()
    );
    let mut changes = Changes::default();
    for pick in 0..edit {
        let path = paths[pick * paths.len() / edit].clone();
        if pick % 2 == 0 {
            let source = new_dir.join(format!("new-{pick:06}.dat"));
            changes.replaced.push((path, source));
        } else {
            changes.removed.push(path);
        }
    }
    Ok(changes)
}

/// Runs the edit mode in `base`.
pub fn bench_edit(
    keep: bool,
    contenders: &Contenders,
    meter: &Meter,
    files: usize,
    edit: usize,
    base: &Path,
) -> anyhow::Result<EditResult> {
    let dir = base.join(format!("edit-{files}-{edit}"));
    let (v1, v2, new_dir) = (dir.join("v1"), dir.join("v2"), dir.join("new"));
    let (edit_root, full_root) = (dir.join("edit-root"), dir.join("full-root"));
    eprintln!(
        "bench: generating {files} files of 1 KiB into {}",
        v1.display()
    );
    let start = Instant::now();
    generate_uniform(&v1, files, FILE_BYTES, SEED ^ 0xED17)?;
    eprintln!("bench: generated in {:.1} s", start.elapsed().as_secs_f64());
    let paths: Vec<String> = list_files(&v1)?.into_iter().map(|f| f.path).collect();
    let changes = choose_changes(&paths, edit, &new_dir)?;
    // The edited tree: v1 hard-linked (the full commit reads it all the same), then each
    // change applied by unlinking, so v1's files are never written through a link.
    let status = Command::new("cp")
        .arg("-al")
        .arg(&v1)
        .arg(&v2)
        .status()
        .context("running cp -al")?;
    anyhow::ensure!(status.success(), "cp -al {} failed", v1.display());
    let mut rng = SplitMix64::new(SEED ^ 0xED18);
    for (path, source) in &changes.replaced {
        write_random_file(source, FILE_BYTES, &mut rng)?;
        let target = v2.join(path);
        std::fs::remove_file(&target).with_context(|| format!("removing {}", target.display()))?;
        std::fs::copy(source, &target).with_context(|| format!("writing {}", target.display()))?;
    }
    for path in &changes.removed {
        let target = v2.join(path);
        std::fs::remove_file(&target).with_context(|| format!("removing {}", target.display()))?;
    }
    let expected_v1: State = expected_state(&v1)?;
    let expected_v2: State = expected_state(&v2)?;
    eprintln!("bench: committing v1 into both roots (untimed for the comparison)");
    let first = commit_once(contenders, meter, &v1, &edit_root)?;
    commit_once(contenders, meter, &v1, &full_root)?;
    sync()?;

    let edited = run_ours(meter, contenders, &edit_root, &edit_args(&changes), "v2")?;
    eprintln!(
        "bench: file-level commit of {edit} changes: {}",
        describe(&edited)
    );
    let edited_verdict = check_root(&contenders.ours, &edit_root, "v2", &expected_v2)?;
    sync()?;
    let full_args = vec![
        OsString::from("commit"),
        OBJECT_ID.into(),
        v2.clone().into(),
        "--message".into(),
        "v2".into(),
    ];
    let full = run_ours(meter, contenders, &full_root, &full_args, "v2")?;
    eprintln!("bench: full commit of the edited tree: {}", describe(&full));
    let full_verdict = check_root(&contenders.ours, &full_root, "v2", &expected_v2)?;
    sync()?;
    let revert_args = vec![
        OsString::from("revert"),
        OBJECT_ID.into(),
        "v1".into(),
        "--message".into(),
        "v3".into(),
    ];
    let revert = run_ours(meter, contenders, &edit_root, &revert_args, "v3")?;
    eprintln!("bench: revert to v1: {}", describe(&revert));
    let revert_verdict = check_root(&contenders.ours, &edit_root, "v3", &expected_v1)?;
    for verdict in [&edited_verdict, &full_verdict, &revert_verdict] {
        if !verdict.ok() {
            eprintln!("bench: a result FAILED its check: {}", verdict.detail);
        }
    }
    if !keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(EditResult {
        files,
        edit,
        first,
        edited,
        full,
        revert,
        verdicts: [edited_verdict, full_verdict, revert_verdict],
    })
}

/// `commit ID --add NEW PATH ... --remove PATH ... --message v2`.
fn edit_args(changes: &Changes) -> Vec<OsString> {
    let mut args = vec![OsString::from("commit"), OBJECT_ID.into()];
    for (path, source) in &changes.replaced {
        args.extend(["--add".into(), source.clone().into(), path.into()]);
    }
    for path in &changes.removed {
        args.extend(["--remove".into(), path.into()]);
    }
    args.extend(["--message".into(), "v2".into()]);
    args
}

/// One measured `ocfl --root ROOT --quiet --json ARGS`, whose line must name `version`.
fn run_ours(
    meter: &Meter,
    contenders: &Contenders,
    root: &Path,
    args: &[OsString],
    version: &str,
) -> anyhow::Result<Measurement> {
    let mut all: Vec<OsString> = vec![
        "--root".into(),
        root.into(),
        "--quiet".into(),
        "--json".into(),
    ];
    all.extend(args.iter().cloned());
    let dir = root.parent().unwrap_or(Path::new("."));
    let measured = meter.run(contenders.ours.as_os_str(), &all, dir)?;
    tools::check_ours_output(&measured.stdout, version)?;
    Ok(measured)
}

fn describe(m: &Measurement) -> String {
    format!(
        "{:.3} s, peak RSS {}",
        m.seconds,
        m.peak_rss_kib
            .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    )
}

/// The table on stdout.
pub fn print_edit_table(result: &EditResult) {
    println!(
        "commit --files {} --edit {} (1 KiB files)",
        result.files, result.edit
    );
    println!(
        "{:<34} {:>9} {:>9} {:>13} {:>8}",
        "command", "seconds", "cpu s", "peak RSS MiB", "vs full"
    );
    let rows = [
        ("commit v1 (for scale)", &result.first),
        ("commit --add/--remove (file-level)", &result.edited),
        ("commit EDITED_DIR (full)", &result.full),
        ("revert v1", &result.revert),
    ];
    for (name, m) in rows {
        println!(
            "{:<34} {:>9.3} {:>9} {:>13} {:>8.4}",
            name,
            m.seconds,
            m.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
            m.peak_rss_kib
                .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            result.ratio(m)
        );
    }
    println!(
        "targets: file-level commit and revert <= {TIME_TARGET} of the full commit, peak RSS <= {RSS_TARGET_MIB} MiB: {}",
        if result.met() { "met" } else { "NOT met" }
    );
}

/// The JSON summary.
pub fn edit_json(contenders: &Contenders, meter: &Meter, result: &EditResult) -> Value {
    let figures = |m: &Measurement| {
        json!({
            "seconds": m.seconds,
            "cpu_seconds": m.cpu_seconds,
            "peak_rss_mib": m.peak_rss_kib.map(|k| k as f64 / 1024.0),
            "vs_full": result.ratio(m),
        })
    };
    json!({
        "benchmark": "commit-edit",
        "files": result.files,
        "file_bytes": FILE_BYTES,
        "edit": result.edit,
        "ours": contenders.ours_version,
        "meter": meter.describe(),
        "commit_v1": figures(&result.first),
        "file_level_commit": figures(&result.edited),
        "full_commit": figures(&result.full),
        "revert": figures(&result.revert),
        "checks_ok": result.verdicts.iter().all(Verdict::ok),
        "time_target": TIME_TARGET,
        "rss_target_mib": RSS_TARGET_MIB,
        "met": result.met(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn changes_spread_over_the_tree_alternating_replace_and_remove() {
        let paths: Vec<String> = (0..100).map(|n| format!("f{n:03}")).collect();
        let changes = choose_changes(&paths, 4, Path::new("/new")).unwrap();
        let replaced: Vec<&str> = changes.replaced.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(replaced, ["f000", "f050"]);
        assert_eq!(changes.removed, ["f025", "f075"]);
        assert_eq!(changes.replaced[1].1, Path::new("/new/new-000002.dat"));
        assert!(choose_changes(&paths, 0, Path::new("/new")).is_err());
        assert!(choose_changes(&paths, 101, Path::new("/new")).is_err());
    }

    #[test]
    fn the_edit_command_adds_then_removes() {
        let changes = Changes {
            replaced: vec![("a".into(), PathBuf::from("/n/a"))],
            removed: vec!["b".into()],
        };
        let args: Vec<String> = edit_args(&changes)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "commit",
                OBJECT_ID,
                "--add",
                "/n/a",
                "a",
                "--remove",
                "b",
                "--message",
                "v2"
            ]
        );
    }
}
