//! `cargo xtask bench commit --files N --edit K`: a file-level commit against a full one.
//!
//! An object of N uniform files (1 KiB each, as the memory mode's) is committed once as v1,
//! untimed. Each of `--runs` runs starts from copies of that root (content hard-linked,
//! inventories and the engine's store copied) and changes K of its files (half replaced with
//! new content, half removed), in an order that turns with each run: with `ocfl commit ID
//! --add ... --remove ...`, which reads only the added files; with `ocfl commit ID
//! EDITED_DIR` of the whole edited tree, which reads every file; with the floor
//! (`bench edit-floor-once`, [`super::edit_floor`]), the least any OCFL writer must do; and
//! with rocfl's `cp`, `rm` and `commit` when it is installed. Last, the file-level copy is
//! reverted to v1 (`ocfl revert`, no content copied). Each result is checked untimed (`ocfl
//! validate`, the head state against the expected one). The targets: the file-level commit
//! and the revert each take at most 1/20 of the full commit's time, with a peak RSS of at
//! most 200 MiB.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use super::check::{State, Verdict, check_root, expected_state};
use super::measure::{Measurement, Meter};
use super::tools::{self, Contenders, OBJECT_ID};
use super::tree::{generate_uniform, list_files, write_random_file};
use super::{RSS_TARGET_MIB, commit_once, sync};
use crate::bench::generate::{SEED, object_root_path};
use crate::bench::median;
use crate::bench::prng::SplitMix64;

/// The size of every file of the object.
const FILE_BYTES: u64 = 1 << 10;

/// A file-level commit (and a revert) at most this fraction of a full commit's time.
pub const TIME_TARGET: f64 = 1.0 / 20.0;

/// The commands of one run, each measured as one process (rocfl's as the sum of its
/// processes).
#[derive(Debug, Clone, Default)]
pub struct EditRun {
    /// `commit --add/--remove` of the K changes.
    pub edited: Measurement,
    /// `commit EDITED_DIR` of the whole edited tree.
    pub full: Measurement,
    /// The floor (`bench edit-floor-once`) of the same changes.
    pub floor: Measurement,
    /// rocfl's `cp`, `rm` and `commit` of the same changes, when it is installed.
    pub rocfl: Option<Measurement>,
    /// `revert ID v1` of the file-level root.
    pub revert: Measurement,
}

/// What the edit mode measured over its runs.
pub struct EditResult {
    pub files: usize,
    pub edit: usize,
    /// v1 of the object (for scale; every run starts from a copy of it).
    pub first: Measurement,
    pub runs: Vec<EditRun>,
    /// Each checked result: what it is, and the verdict.
    pub verdicts: Vec<(String, Verdict)>,
}

/// The rows of the table, in order: name, JSON key, and the command's figures in a run.
type Row = (
    &'static str,
    &'static str,
    fn(&EditRun) -> Option<&Measurement>,
);

const ROWS: [Row; 5] = [
    (
        "commit --add/--remove (file-level)",
        "file_level_commit",
        |r| Some(&r.edited),
    ),
    ("commit EDITED_DIR (full)", "full_commit", |r| Some(&r.full)),
    ("floor (edit-floor-once)", "floor", |r| Some(&r.floor)),
    ("rocfl cp/rm/commit", "rocfl", |r| r.rocfl.as_ref()),
    ("revert v1", "revert", |r| Some(&r.revert)),
];

/// One command's figures over the runs: median wall and CPU seconds, largest peak RSS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub seconds: f64,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl EditResult {
    /// The figures of a row over the runs, `None` if it was not measured.
    pub fn summary(&self, row: fn(&EditRun) -> Option<&Measurement>) -> Option<Summary> {
        let measured: Vec<&Measurement> = self.runs.iter().filter_map(row).collect();
        let seconds = median(&measured.iter().map(|m| m.seconds).collect::<Vec<_>>())?;
        let cpu: Option<Vec<f64>> = measured.iter().map(|m| m.cpu_seconds).collect();
        let peak = measured.iter().filter_map(|m| m.peak_rss_kib).max();
        Some(Summary {
            seconds,
            cpu_seconds: cpu.as_deref().and_then(median),
            peak_rss_mib: peak.map(|k| k as f64 / 1024.0),
        })
    }

    /// The median over the runs of a row's time divided by the same run's time of `by`.
    pub fn ratio(
        &self,
        row: fn(&EditRun) -> Option<&Measurement>,
        by: fn(&EditRun) -> Option<&Measurement>,
    ) -> Option<f64> {
        median(
            &self
                .runs
                .iter()
                .filter_map(|r| Some(row(r)?.seconds / by(r)?.seconds))
                .collect::<Vec<_>>(),
        )
    }

    /// Both ratios and peaks within target in every run, every check passed.
    pub fn met(&self) -> bool {
        let fast = |m: &Measurement, full: &Measurement| m.seconds / full.seconds <= TIME_TARGET;
        let small = |m: &Measurement| {
            m.peak_rss_kib
                .is_some_and(|k| k as f64 / 1024.0 <= RSS_TARGET_MIB)
        };
        self.verdicts.iter().all(|(_, v)| v.ok())
            && !self.runs.is_empty()
            && self.runs.iter().all(|r| {
                fast(&r.edited, &r.full)
                    && fast(&r.revert, &r.full)
                    && small(&r.edited)
                    && small(&r.revert)
            })
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

/// Runs the edit mode in `base`: `runs` runs, each from copies of one v1.
pub fn bench_edit(
    keep: bool,
    contenders: &Contenders,
    meter: &Meter,
    files: usize,
    edit: usize,
    runs: usize,
    base: &Path,
) -> anyhow::Result<EditResult> {
    let dir = base.join(format!("edit-{files}-{edit}"));
    let (v1, v2, new_dir) = (dir.join("v1"), dir.join("v2"), dir.join("new"));
    let master = dir.join("master");
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
    eprintln!("bench: committing v1 (untimed for the comparison; each run edits a copy)");
    let first = commit_once(contenders, meter, &v1, &master)?;
    let harness = std::env::current_exe().context("finding this harness's binary")?;
    let object_dir = object_root_path(OBJECT_ID);

    let mut result = EditResult {
        files,
        edit,
        first,
        runs: Vec::new(),
        verdicts: Vec::new(),
    };
    for run in 0..runs {
        let run_dir = dir.join(format!("run-{}", run + 1));
        let root = |name: &str| run_dir.join(format!("{name}-root"));
        let mut names = vec!["edit", "full", "floor"];
        if contenders.rocfl.is_some() {
            names.push("rocfl");
        }
        for name in &names {
            link_copy(&master, &root(name))?;
            let work = work_dir(&master);
            if work.exists() {
                link_copy(&work, &work_dir(&root(name)))?;
            }
        }
        sync()?;
        // Ours trusts a root inventory's tag only once the file has settled (2 s): the
        // copies must look like the object a later commit finds, not one just written.
        std::thread::sleep(Duration::from_millis(2500));
        // The order of the four edits turns with each run.
        let mut order = names.clone();
        order.rotate_left(run % names.len());
        let mut measured = EditRun::default();
        for name in order {
            let target = root(name);
            let (label, measurement, expected_head) = match name {
                "edit" => {
                    let m = run_ours(meter, contenders, &target, &edit_args(&changes), "v2")?;
                    measured.edited = m.clone();
                    ("file-level commit", m, "v2")
                }
                "full" => {
                    let full_args = vec![
                        OsString::from("commit"),
                        OBJECT_ID.into(),
                        v2.clone().into(),
                        "--message".into(),
                        "v2".into(),
                    ];
                    let m = run_ours(meter, contenders, &target, &full_args, "v2")?;
                    measured.full = m.clone();
                    ("full commit of the edited tree", m, "v2")
                }
                "floor" => {
                    let m = meter.run(
                        harness.as_os_str(),
                        &floor_args(&changes, &target.join(&object_dir)),
                        &run_dir,
                    )?;
                    anyhow::ensure!(
                        m.stdout.trim() == "v2",
                        "the floor printed {:?}, not v2",
                        m.stdout
                    );
                    measured.floor = m.clone();
                    ("floor", m, "v2")
                }
                _ => {
                    let m = run_rocfl(meter, contenders, &target, &changes)?;
                    measured.rocfl = Some(m.clone());
                    ("rocfl", m, "v2")
                }
            };
            eprintln!(
                "bench: run {}: {label} of {edit} changes: {}",
                run + 1,
                describe(&measurement)
            );
            let verdict = check_root(&contenders.ours, &target, expected_head, &expected_v2)?;
            result
                .verdicts
                .push((format!("run {} {label}", run + 1), verdict));
            sync()?;
        }
        let revert_args = vec![
            OsString::from("revert"),
            OBJECT_ID.into(),
            "v1".into(),
            "--message".into(),
            "v3".into(),
        ];
        measured.revert = run_ours(meter, contenders, &root("edit"), &revert_args, "v3")?;
        eprintln!(
            "bench: run {}: revert to v1: {}",
            run + 1,
            describe(&measured.revert)
        );
        let verdict = check_root(&contenders.ours, &root("edit"), "v3", &expected_v1)?;
        result
            .verdicts
            .push((format!("run {} revert", run + 1), verdict));
        result.runs.push(measured);
        if !keep || run + 1 < runs {
            std::fs::remove_dir_all(&run_dir)
                .with_context(|| format!("removing {}", run_dir.display()))?;
        }
        sync()?;
    }
    for (what, verdict) in &result.verdicts {
        if !verdict.ok() {
            eprintln!("bench: {what} FAILED its check: {}", verdict.detail);
        }
    }
    if !keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(result)
}

/// Where ours keeps a local root's engine state and work files.
fn work_dir(root: &Path) -> PathBuf {
    let mut name = root.file_name().unwrap_or_default().to_os_string();
    name.push(".ocfl-work");
    root.with_file_name(name)
}

/// Copies the tree `from` to `to` (which must not exist): files below a `content` directory
/// (an object's content, which no writer changes) hard-linked, every other file (inventories,
/// sidecars, the engine's store, which writers replace or change in place) copied.
fn link_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    fn walk(from: &Path, to: &Path, in_content: bool) -> anyhow::Result<()> {
        std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in
            std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))?
        {
            let entry = entry?;
            let (source, target) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type()?.is_dir() {
                walk(
                    &source,
                    &target,
                    in_content || entry.file_name() == "content",
                )?;
            } else if in_content {
                std::fs::hard_link(&source, &target)
                    .with_context(|| format!("linking {}", target.display()))?;
            } else {
                std::fs::copy(&source, &target)
                    .with_context(|| format!("copying {}", target.display()))?;
            }
        }
        Ok(())
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    walk(from, to, false)
}

/// `bench edit-floor-once --add NEW PATH ... --remove PATH ... OBJECT`.
fn floor_args(changes: &Changes, object: &Path) -> Vec<OsString> {
    let mut args = vec![OsString::from("bench"), "edit-floor-once".into()];
    for (path, source) in &changes.replaced {
        args.extend(["--add".into(), source.clone().into(), path.into()]);
    }
    for path in &changes.removed {
        args.extend(["--remove".into(), path.into()]);
    }
    args.push(object.into());
    args
}

/// rocfl's file-level edit: `cp ID NEW -- PATH` for each replaced file, `rm ID PATH...`,
/// `commit`; the sum of the processes.
fn run_rocfl(
    meter: &Meter,
    contenders: &Contenders,
    root: &Path,
    changes: &Changes,
) -> anyhow::Result<Measurement> {
    let (rocfl, _) = contenders
        .rocfl
        .as_ref()
        .context("rocfl is not installed")?;
    let dir = root.parent().unwrap_or(Path::new("."));
    let run = |args: Vec<OsString>| {
        let mut all: Vec<OsString> = vec!["-r".into(), root.into()];
        all.extend(args);
        meter.run(rocfl.as_os_str(), &all, dir)
    };
    let mut processes = Vec::new();
    for (path, source) in &changes.replaced {
        processes.push(run(vec![
            "cp".into(),
            OBJECT_ID.into(),
            source.clone().into(),
            "--".into(),
            path.into(),
        ])?);
    }
    if !changes.removed.is_empty() {
        let mut args: Vec<OsString> = vec!["rm".into(), OBJECT_ID.into()];
        args.extend(changes.removed.iter().map(OsString::from));
        processes.push(run(args)?);
    }
    processes.push(run(vec![
        "commit".into(),
        OBJECT_ID.into(),
        "-m".into(),
        "v2".into(),
        "-n".into(),
        "bench".into(),
        "-a".into(),
        "mailto:bench@example.org".into(),
    ])?);
    // `Measurement::default()` has no CPU time: summing onto it would lose the CPU column.
    processes
        .into_iter()
        .reduce(Measurement::then)
        .context("rocfl ran no process")
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

/// The table on stdout: medians over the runs, the largest peak.
pub fn print_edit_table(result: &EditResult) {
    println!(
        "commit --files {} --edit {} (1 KiB files), {} run(s): median seconds and CPU, largest peak RSS",
        result.files,
        result.edit,
        result.runs.len()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>13} {:>8} {:>9}",
        "command", "seconds", "cpu s", "peak RSS MiB", "vs full", "vs floor"
    );
    let first = &result.first;
    println!(
        "{:<34} {:>9.3} {:>9} {:>13} {:>8} {:>9}",
        "commit v1 (for scale, once)",
        first.seconds,
        first.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
        first
            .peak_rss_kib
            .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        "-",
        "-"
    );
    let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.4}"));
    for (name, _, row) in ROWS {
        let Some(summary) = result.summary(row) else {
            continue;
        };
        println!(
            "{:<34} {:>9.3} {:>9} {:>13} {:>8} {:>9}",
            name,
            summary.seconds,
            summary
                .cpu_seconds
                .map_or("-".into(), |c| format!("{c:.2}")),
            summary
                .peak_rss_mib
                .map_or("-".into(), |m| format!("{m:.1}")),
            ratio(result.ratio(row, |r| Some(&r.full))),
            ratio(result.ratio(row, |r| Some(&r.floor))),
        );
    }
    println!(
        "targets: file-level commit and revert <= {TIME_TARGET} of the full commit, peak RSS <= {RSS_TARGET_MIB} MiB: {}",
        if result.met() { "met" } else { "NOT met" }
    );
}

/// The JSON summary.
pub fn edit_json(contenders: &Contenders, meter: &Meter, result: &EditResult) -> Value {
    let mut summary = json!({
        "benchmark": "commit-edit",
        "files": result.files,
        "file_bytes": FILE_BYTES,
        "edit": result.edit,
        "runs": result.runs.len(),
        "ours": contenders.ours_version,
        "meter": meter.describe(),
        "commit_v1": {
            "seconds": result.first.seconds,
            "cpu_seconds": result.first.cpu_seconds,
            "peak_rss_mib": result.first.peak_rss_kib.map(|k| k as f64 / 1024.0),
        },
        "checks_ok": result.verdicts.iter().all(|(_, v)| v.ok()),
        "time_target": TIME_TARGET,
        "rss_target_mib": RSS_TARGET_MIB,
        "met": result.met(),
    });
    for (_, key, row) in ROWS {
        summary[key] = match result.summary(row) {
            Some(s) => json!({
                "seconds": s.seconds,
                "cpu_seconds": s.cpu_seconds,
                "peak_rss_mib": s.peak_rss_mib,
                "vs_full": result.ratio(row, |r| Some(&r.full)),
                "vs_floor": result.ratio(row, |r| Some(&r.floor)),
                "seconds_per_run": result
                    .runs
                    .iter()
                    .filter_map(row)
                    .map(|m| m.seconds)
                    .collect::<Vec<_>>(),
            }),
            None => Value::Null,
        };
    }
    summary
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
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    /// Content is shared between the copies; inventories and the engine's files are not,
    /// so that a writer replacing or changing them in one run leaves the next run's copy as
    /// it was.
    #[test]
    fn a_link_copy_shares_only_content() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("root");
        std::fs::create_dir_all(from.join("obj/v1/content/a")).unwrap();
        std::fs::write(from.join("obj/v1/content/a/f"), b"f").unwrap();
        std::fs::write(from.join("obj/inventory.json"), b"{}").unwrap();
        std::fs::write(from.join("store.redb"), b"db").unwrap();
        let to = dir.path().join("runs/1/root");
        link_copy(&from, &to).unwrap();
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        for (relative, shared) in [
            ("obj/v1/content/a/f", true),
            ("obj/inventory.json", false),
            ("store.redb", false),
        ] {
            assert_eq!(
                inode(&from.join(relative)) == inode(&to.join(relative)),
                shared,
                "{relative}"
            );
            assert_eq!(
                std::fs::read(from.join(relative)).unwrap(),
                std::fs::read(to.join(relative)).unwrap()
            );
        }
        assert!(link_copy(&from, &to).is_err(), "the target must be new");
        assert_eq!(work_dir(&to), dir.path().join("runs/1/root.ocfl-work"));
    }

    #[test]
    fn the_floor_is_told_the_same_changes() {
        let changes = Changes {
            replaced: vec![("a".into(), PathBuf::from("/n/a"))],
            removed: vec!["b".into(), "c".into()],
        };
        let args: Vec<String> = floor_args(&changes, Path::new("/r/obj"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "bench",
                "edit-floor-once",
                "--add",
                "/n/a",
                "a",
                "--remove",
                "b",
                "--remove",
                "c",
                "/r/obj"
            ]
        );
        use clap::Parser;
        let cli = crate::Cli::try_parse_from(
            std::iter::once("ocfl-bench-compare").chain(args.iter().map(String::as_str)),
        );
        assert!(cli.is_ok(), "{cli:?}");
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
