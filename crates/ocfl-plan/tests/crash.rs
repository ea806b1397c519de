use std::path::Path;

use ocfl_core::SpecVersion;
use ocfl_core::storage::LocalStorage;
use ocfl_plan::exec::apply;
use ocfl_plan::fault::{Crash, CrashMode, FaultStorage, Injector};
use ocfl_plan::plan::{Outcome, Plan, PlanOptions, plan};
use ocfl_plan::stage::{Stage, StageOptions};
use proptest::prelude::*;

use crate::util::*;

const OBJECT: &str = "root/obj";
const WORK: &str = "root.ocfl-work/run";

/// Steps during which a crash may leave the object invalid: the window of
/// `docs/durability.md`, section 5.
const WINDOW: &[&str] = &[
    "move-version",
    "install-root-inventory",
    "install-root-sidecar",
    "install-declaration",
    "remove-old-declaration",
];

const PATHS: &[&str] = &["a.txt", "d/b.txt", "d/e/c.txt", "ü.txt"];
const CONTENTS: &[&[u8]] = &[b"one", b"two", b"three\n", b""];

fn tree_strategy() -> impl Strategy<Value = Tree> {
    proptest::collection::btree_map(0..PATHS.len(), 0..CONTENTS.len(), 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(p, c)| (PATHS[p].to_owned(), CONTENTS[c].to_vec()))
            .collect()
    })
}

fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in read_tree(from) {
        match path.strip_suffix('/') {
            Some(dir) => std::fs::create_dir_all(to.join(dir)).expect("mkdir"),
            None => std::fs::write(to.join(path), bytes).expect("write"),
        }
    }
}

/// The files of existing version directories: what no crash may ever touch.
fn committed_versions(tree: &Tree) -> Tree {
    tree.iter()
        .filter(|(p, _)| p.starts_with("root/obj/v"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// For a random plan and every crash point k (operations 0..k done, the k-th left
    /// undone or half done: a torn file, a leftover temporary, a rename without its flush, or
    /// a power cut tearing every file not yet flushed),
    /// the object is valid at its old or its new version unless the crash fell in the
    /// documented window, the committed versions are untouched, and running the plan again
    /// from the start gives exactly the object of an uninterrupted run.
    #[test]
    fn every_crash_point_recovers_to_the_same_object(
        first in tree_strategy(),
        second in tree_strategy(),
        existing in any::<bool>(),
        upgrade in any::<bool>(),
        rotation in 0..3usize,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source");
        let template = dir.path().join("template");
        std::fs::create_dir_all(&template).expect("mkdir");
        let mut options = PlanOptions::new("urn:example:crash", OBJECT, WORK);
        let mut old_head = None;
        if existing {
            write_tree(&source, &first);
            let mut v1 = options.clone();
            v1.spec_version = Some(if upgrade { SpecVersion::V1_0 } else { SpecVersion::V1_1 });
            commit(&template, &source, &v1, &StageOptions::default(), 1).expect("v1");
            old_head = Some(head(&template, OBJECT));
            options.spec_version = Some(SpecVersion::V1_1);
        }
        write_tree(&source, &second);
        let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
        let base = ocfl_plan::exec::read_base(&LocalStorage::new(&template), OBJECT).expect("base");
        let plan: Plan = match plan(base.as_ref(), &stage, &options, created(2)).expect("plan") {
            Outcome::Update(plan) => plan,
            Outcome::NoChange { .. } => return Ok(()),
        };
        let new_head = plan.version.to_string();
        let untouchable = committed_versions(&read_tree(&template));

        let full = dir.path().join("full");
        copy_tree(&template, &full);
        // A crash that never comes: flushes are only recorded, as in the runs below.
        let counter = Injector::crashing(Crash { at: u64::MAX, mode: CrashMode::Before });
        let counting = FaultStorage::new(LocalStorage::new(&full), counter.clone());
        apply(&plan, &counting, &stage).expect("uninterrupted run");
        let expected = read_tree(&full);
        let operations = counter.operations();

        for k in 0..operations {
            // One crash mode per point, rotating from a random start, keeps the run short.
            {
                let mode = CrashMode::ALL[(k as usize + rotation) % CrashMode::ALL.len()];
                let run = dir.path().join(format!("run-{k}"));
                copy_tree(&template, &run);
                let injector = Injector::crashing(Crash { at: k, mode });
                let crashing = FaultStorage::new(LocalStorage::new(&run), injector.clone());
                let error = apply(&plan, &crashing, &stage).expect_err("the crash fails a step");
                let at = format!("crash {k} ({mode:?}, {:?}) in step {}", injector.crashed_in(), error.step);

                let now = read_tree(&run);
                prop_assert_eq!(&committed_versions(&now).into_iter().filter(|(p, _)| untouchable.contains_key(p)).collect::<Tree>(), &untouchable, "{}", at);
                if run.join(OBJECT).exists() {
                    let report = validate(&run, OBJECT);
                    if report.is_valid() {
                        let h = head(&run, OBJECT);
                        prop_assert!(Some(&h) == old_head.as_ref() || h == new_head, "{}: head {}", at, h);
                    } else {
                        prop_assert!(WINDOW.contains(&error.step.as_str()), "{}: invalid outside the window: {:?}", at, report.errors);
                    }
                } else {
                    prop_assert!(!existing, "{}: the object vanished", at);
                }

                // Abandoning instead restores the old version (a new object, once moved in,
                // is complete and stays).
                let abandoned = dir.path().join("abandoned");
                std::fs::create_dir_all(&abandoned).expect("mkdir");
                copy_tree(&run, &abandoned);
                ocfl_plan::exec::abandon(&plan, &LocalStorage::new(&abandoned)).expect("abandon");
                if existing {
                    let after = read_tree(&abandoned);
                    let before = read_tree(&template);
                    prop_assert!(after == before || after == expected, "{}: abandon: {:?}", at, differences(&after, &before));
                }
                std::fs::remove_dir_all(&abandoned).expect("clean up");

                apply(&plan, &LocalStorage::new(&run), &stage).expect("re-run completes the update");
                let after = read_tree(&run);
                prop_assert!(after == expected, "{}: {:?}", at, differences(&after, &expected));
                std::fs::remove_dir_all(&run).expect("clean up");
            }
        }
    }
}
