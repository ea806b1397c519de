use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};

use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_plan::exec::{self, SpooledStage, apply, read_base};
use ocfl_plan::plan::{Outcome, PlanOptions, plan};
use ocfl_plan::stage::{Spool, Stage, StageOptions, spooled};

use crate::util::*;

const OBJECT: &str = "root/obj";
const WORK: &str = "root.ocfl-work/run";

fn sample() -> Tree {
    let mut tree = Tree::new();
    tree.insert("a.txt".into(), b"alpha".to_vec());
    tree.insert("dir/b.bin".into(), vec![7u8; 300_000]);
    tree.insert("dir/copy-of-a.txt".into(), b"alpha".to_vec());
    tree.insert("empty".into(), Vec::new());
    tree
}

/// Stages `source` into the spool of `WORK`, counting what progress hears.
fn stage_spooled(fs: &LocalStorage, source: &std::path::Path) -> (Stage, u64, u64) {
    let spool = Spool::new(fs, WORK).expect("a spool on Linux");
    let (files, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let stage =
        Stage::from_directory_with(source, &StageOptions::default(), Some(&spool), &|f, b| {
            files.fetch_add(f, Ordering::Relaxed);
            bytes.fetch_add(b, Ordering::Relaxed);
        })
        .expect("stage");
    (stage, files.into_inner(), bytes.into_inner())
}

fn new_object_plan(fs: &LocalStorage, stage: &Stage) -> ocfl_plan::plan::Plan {
    let base = read_base(fs, OBJECT).expect("base");
    assert!(base.is_none());
    match plan(
        None,
        stage,
        &PlanOptions::new("urn:example:spool", OBJECT, WORK),
        created(1),
    )
    .expect("plan")
    {
        Outcome::Update(plan) => plan,
        Outcome::NoChange { .. } => panic!("a new object is a change"),
    }
}

#[test]
fn staging_spools_each_distinct_content_once_and_reports_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &sample());
    let fs = LocalStorage::new(dir.path());
    let (stage, files, bytes) = stage_spooled(&fs, &source);
    assert_eq!(files, 4, "every file reported done");
    assert_eq!(bytes, 5 + 300_000 + 5, "every byte reported read");
    assert_eq!(stage.len(), 4);
    // One spooled file per digest, holding exactly the bytes of that digest; no temporaries.
    // Every file is spooled (copies of the same bytes under their own source's stamp),
    // holding exactly its bytes; no temporaries are left.
    let mut names = Vec::new();
    for file in stage.files().values() {
        let name = spooled(WORK, &file.digest, &file.source).expect("spool path");
        let spooled_bytes = fs::read(dir.path().join(&name)).expect("spooled");
        assert_eq!(spooled_bytes, fs::read(&file.source).expect("source"));
        names.push(name.rsplit_once('/').expect("in the spool").1.to_owned());
    }
    names.sort();
    let spool_dir = Spool::new(&fs, WORK).expect("spool").dir().to_owned();
    let mut found: Vec<String> = fs::read_dir(dir.path().join(spool_dir))
        .expect("spool dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    found.sort();
    assert_eq!(found, names);
}

#[test]
fn the_spool_is_named_after_the_running_kernel() {
    // What makes an unflushed spooled file safe to use without re-hashing it: after a power
    // cut the next boot looks in another directory.
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = LocalStorage::new(dir.path());
    let spool = Spool::new(&fs, WORK).expect("spool");
    assert_eq!(spool.dir(), format!("{WORK}/spool-{}", boot.trim()));
}

#[test]
fn copies_move_spooled_files_without_reading_the_source_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &sample());
    let fs = LocalStorage::new(dir.path());
    let (stage, _, _) = stage_spooled(&fs, &source);
    let plan = new_object_plan(&fs, &stage);
    // The spooled files themselves become the content files: renamed, not copied.
    let inode = |path: &std::path::Path| {
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).expect("metadata"))
    };
    let (_, b) = stage
        .files()
        .iter()
        .find(|(p, _)| p.as_str() == "dir/b.bin")
        .expect("b");
    let spooled_b = dir
        .path()
        .join(spooled(WORK, &b.digest, &b.source).expect("path"));
    let spooled_inode = inode(&spooled_b);
    let results = apply(&plan, &fs, &SpooledStage::new(&stage, &plan.work_path)).expect("apply");
    assert_eq!(results.len(), plan.steps.len());
    let report = validate_object(
        &LocalStorage::new(dir.path()),
        OBJECT,
        &ValidationOptions { check_fixity: true },
    );
    assert!(report.is_valid(), "{:?}", report.errors);
    assert_eq!(
        reconstruct(dir.path(), OBJECT, "v1"),
        sample(),
        "the object holds the staged bytes"
    );
    assert_eq!(
        inode(&dir.path().join(OBJECT).join("v1/content/dir/b.bin")),
        spooled_inode
    );
    assert!(
        !dir.path().join(WORK).exists(),
        "the spool went with the work area"
    );
}

#[test]
fn a_source_changed_since_staging_still_fails_its_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &sample());
    let fs = LocalStorage::new(dir.path());
    let (stage, _, _) = stage_spooled(&fs, &source);
    let plan = new_object_plan(&fs, &stage);
    // Written to since it was staged: its spooled copy no longer matches its stamp.
    // (Another size: a same-size rewrite within the clock tick of staging keeps the stamp.)
    fs::write(source.join("a.txt"), b"ALPHA!").expect("change the source");
    let error = apply(&plan, &fs, &SpooledStage::new(&stage, &plan.work_path))
        .expect_err("the changed source is found");
    assert_eq!(error.step, "copy v1/content/a.txt");
    assert!(
        matches!(error.error, exec::Error::SourceChanged { .. }),
        "{error}"
    );
    assert!(!dir.path().join(OBJECT).exists());
}

#[test]
fn without_its_spooled_file_a_copy_reads_the_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &sample());
    let fs = LocalStorage::new(dir.path());
    let (stage, _, _) = stage_spooled(&fs, &source);
    let plan = new_object_plan(&fs, &stage);
    // As after a reboot, when the spool of this boot is empty.
    let spool_dir = Spool::new(&fs, WORK).expect("spool").dir().to_owned();
    fs::remove_dir_all(dir.path().join(spool_dir)).expect("empty the spool");
    apply(&plan, &fs, &SpooledStage::new(&stage, &plan.work_path)).expect("apply");
    assert_eq!(reconstruct(dir.path(), OBJECT, "v1"), sample());
}
