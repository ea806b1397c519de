use std::fs;
use std::sync::Arc;

use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::storage::{
    Entry, EntryKind, FileInfo, LocalStorage, Storage, StorageError, StorageWriter, Tag,
};
use ocfl_plan::exec::{self, StepResult, apply, read_base};
use ocfl_plan::plan::{self, Action, Outcome, Plan, PlanOptions, plan, plan_owned};
use ocfl_plan::stage::{Stage, StageOptions};

use crate::util::*;

const OBJECT: &str = "root/obj";
const WORK: &str = "root.ocfl-work/run";

fn options() -> PlanOptions {
    PlanOptions::new("urn:example:obj", OBJECT, WORK)
}

fn tree(entries: &[(&str, &str)]) -> Tree {
    entries
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
        .collect()
}

fn update(outcome: Outcome) -> Plan {
    match outcome {
        Outcome::Update(plan) => plan,
        Outcome::NoChange { head } => panic!("expected an update, got no change at {head}"),
    }
}

fn copies(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter(|s| matches!(s.action, Action::Copy { .. }))
        .map(|s| s.id.as_str())
        .collect()
}

/// Stages `tree` and plans it against the object's current state, without applying.
fn plan_for(
    root: &std::path::Path,
    source: &std::path::Path,
    tree: &Tree,
    options: &PlanOptions,
    when: u32,
) -> (Stage, Outcome) {
    write_tree(source, tree);
    let stage = Stage::from_directory(source, &StageOptions::default()).expect("stage");
    let fs = LocalStorage::new(root);
    let base = read_base(&fs, OBJECT).expect("base");
    let outcome = plan(base.as_ref(), &stage, options, created(when)).expect("plan");
    (stage, outcome)
}

/// An object at v1 holding `a` = "1" under `root`, and the stage and plan (not applied) of
/// its update to `next`.
fn v1_and_update_to(root: &std::path::Path, next: &[(&str, &str)]) -> (Stage, Plan) {
    let source = root.join("src");
    write_tree(&source, &tree(&[("a", "1")]));
    commit(root, &source, &options(), &StageOptions::default(), 1).expect("v1");
    let (stage, outcome) = plan_for(root, &source, &tree(next), &options(), 2);
    (stage, update(outcome))
}

#[test]
fn same_inputs_give_byte_identical_plans_and_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let t = tree(&[("a.txt", "alpha"), ("d/b.txt", "beta"), ("é.txt", "gamma")]);
    let (_, first) = plan_for(dir.path(), &source, &t, &options(), 1);
    let (stage, second) = plan_for(dir.path(), &source, &t, &options(), 1);
    let first = update(first);
    let json = first.to_json().expect("serializable");
    assert_eq!(
        json,
        update(second.clone()).to_json().expect("serializable")
    );
    assert_eq!(Plan::from_json(&json).expect("round trip"), first);

    // Two storage roots given the same plan end up byte-identical.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let plan = update(second);
    apply(&plan, &LocalStorage::new(&a), &stage).expect("apply");
    apply(&plan, &LocalStorage::new(&b), &stage).expect("apply elsewhere");
    assert_eq!(read_tree(&a), read_tree(&b));
    assert!(read_tree(&a).contains_key("root/obj/v1/content/é.txt"));
    assert!(!a.join(WORK).exists(), "the work directory is cleaned up");
    assert_valid(&a, OBJECT);
}

/// A base given to the planner (its inventory reused, not copied) plans exactly what a lent
/// one does: the same steps, the same inventory bytes, the same base reference, no change
/// where there is none, and the same refusal.
#[test]
fn a_given_base_plans_exactly_as_a_lent_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    v1_and_update_to(dir.path(), &[("a", "2")]);
    let source = dir.path().join("next");
    let fs = LocalStorage::new(dir.path());
    let base = read_base(&fs, OBJECT).expect("base").expect("an object");
    for next in [
        tree(&[("a", "2"), ("b/c", "3")]),
        tree(&[("a", "1"), ("d", "1")]),
        tree(&[("a", "1")]),
    ] {
        write_tree(&source, &next);
        let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
        let lent = plan(Some(&base), &stage, &options(), created(2)).expect("lent");
        let given = plan_owned(Some(base.clone()), &stage, &options(), created(2)).expect("given");
        assert_eq!(given, lent);
        fs::remove_dir_all(&source).expect("clean");
    }
    write_tree(&source, &tree(&[("a", "2")]));
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let mut wrong = options();
    wrong.object_id = "urn:example:other".into();
    let refused = plan_owned(Some(base.clone()), &stage, &wrong, created(2))
        .expect_err("another object's id")
        .to_string();
    let lent = plan(Some(&base), &stage, &wrong, created(2)).expect_err("another object's id");
    assert_eq!(refused, lent.to_string());
    let new = plan_owned(None, &stage, &options(), created(1)).expect("new");
    assert_eq!(
        new,
        plan(None, &stage, &options(), created(1)).expect("new")
    );
}

#[test]
fn inventory_bytes_are_identical_in_version_and_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &tree(&[("a", "1")]));
    commit(dir.path(), &source, &options(), &StageOptions::default(), 1).expect("v1");
    write_tree(&source, &tree(&[("a", "2")]));
    commit(dir.path(), &source, &options(), &StageOptions::default(), 2).expect("v2");
    let object = dir.path().join(OBJECT);
    let root = fs::read(object.join("inventory.json")).expect("root");
    assert_eq!(
        root,
        fs::read(object.join("v2/inventory.json")).expect("v2")
    );
    assert_eq!(
        fs::read(object.join("inventory.json.sha512")).expect("sidecar"),
        fs::read(object.join("v2/inventory.json.sha512")).expect("v2 sidecar")
    );
    assert_valid(dir.path(), OBJECT);
}

#[test]
fn identical_content_is_copied_once_and_never_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let v1 = tree(&[("a.txt", "same"), ("b/c.txt", "same"), ("d.txt", "other")]);
    let (stage, outcome) = plan_for(dir.path(), &source, &v1, &options(), 1);
    let plan = update(outcome);
    assert_eq!(
        copies(&plan),
        ["copy v1/content/a.txt", "copy v1/content/d.txt"]
    );
    apply(&plan, &LocalStorage::new(dir.path()), &stage).expect("apply v1");

    // v2 renames a file, re-adds known content under a new name, and adds one new file.
    let v2 = tree(&[
        ("moved.txt", "other"),
        ("again.txt", "same"),
        ("new.txt", "fresh"),
    ]);
    let (stage, outcome) = plan_for(dir.path(), &source, &v2, &options(), 2);
    let plan = update(outcome);
    assert_eq!(copies(&plan), ["copy v2/content/new.txt"]);
    apply(&plan, &LocalStorage::new(dir.path()), &stage).expect("apply v2");
    assert_valid(dir.path(), OBJECT);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v1"), v1);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v2"), v2);
    assert!(
        !dir.path()
            .join(OBJECT)
            .join("v2/content/moved.txt")
            .exists()
    );
}

#[test]
fn no_change_when_the_head_holds_the_staged_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let t = tree(&[("a.txt", "alpha"), ("b.txt", "alpha")]);
    write_tree(&source, &t);
    commit(dir.path(), &source, &options(), &StageOptions::default(), 1).expect("v1");
    let (_, outcome) = plan_for(dir.path(), &source, &t, &options(), 2);
    assert!(
        matches!(outcome, Outcome::NoChange { head } if head.to_string() == "v1"),
        "{outcome:?}"
    );
    // Same digests under another path are a change.
    let renamed = tree(&[("a.txt", "alpha"), ("c.txt", "alpha")]);
    let (_, outcome) = plan_for(dir.path(), &source, &renamed, &options(), 2);
    assert!(matches!(outcome, Outcome::Update(_)));
}

#[test]
fn upgrades_an_object_from_ocfl_1_0_to_1_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let v1 = tree(&[("a.txt", "alpha")]);
    write_tree(&source, &v1);
    let mut old = options();
    old.spec_version = Some(SpecVersion::V1_0);
    commit(dir.path(), &source, &old, &StageOptions::default(), 1).expect("v1");
    let object = dir.path().join(OBJECT);
    assert!(object.join("0=ocfl_object_1.0").exists());
    assert_valid(dir.path(), OBJECT);

    // Without asking, the object stays 1.0.
    let v2 = tree(&[("a.txt", "alpha"), ("b.txt", "beta")]);
    let (_, outcome) = plan_for(dir.path(), &source, &v2, &options(), 2);
    assert_eq!(update(outcome).spec_version, SpecVersion::V1_0);

    let mut new = options();
    new.spec_version = Some(SpecVersion::V1_1);
    let (stage, outcome) = plan_for(dir.path(), &source, &v2, &new, 2);
    let upgrade = update(outcome);
    let ids: Vec<&str> = upgrade.steps.iter().map(|s| s.id.as_str()).collect();
    for id in ["declare", "install-declaration", "remove-old-declaration"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    apply(&upgrade, &LocalStorage::new(dir.path()), &stage).expect("apply");
    assert!(object.join("0=ocfl_object_1.1").exists());
    assert!(!object.join("0=ocfl_object_1.0").exists());
    let v1_inventory = fs::read_to_string(object.join("v1/inventory.json")).expect("v1");
    assert!(v1_inventory.contains("https://ocfl.io/1.0/spec/#inventory"));
    let root_inventory = fs::read_to_string(object.join("inventory.json")).expect("root");
    assert!(root_inventory.contains("https://ocfl.io/1.1/spec/#inventory"));
    assert_valid(dir.path(), OBJECT);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v2"), v2);

    // An upgrade of the same state is itself a change; afterwards there is none.
    let (_, outcome) = plan_for(dir.path(), &source, &v2, &new, 3);
    assert!(matches!(outcome, Outcome::NoChange { .. }));
    let mut down = options();
    down.spec_version = Some(SpecVersion::V1_0);
    write_tree(&source, &v1);
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let base = read_base(&LocalStorage::new(dir.path()), OBJECT).expect("base");
    let error = plan(base.as_ref(), &stage, &down, created(3)).expect_err("downgrade");
    assert!(
        matches!(error, plan::Error::SpecDowngrade { .. }),
        "{error}"
    );
}

#[test]
fn refuses_to_apply_a_plan_whose_base_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &tree(&[("a", "1")]));
    commit(dir.path(), &source, &options(), &StageOptions::default(), 1).expect("v1");

    // Two plans for v2 from the same base; the second one applied loses.
    let (stage_a, first) = plan_for(dir.path(), &source, &tree(&[("a", "2")]), &options(), 2);
    let first = update(first);
    let other = dir.path().join("other");
    write_tree(&other, &tree(&[("b", "3")]));
    commit(dir.path(), &other, &options(), &StageOptions::default(), 3).expect("someone else's v2");
    let before = read_tree(&dir.path().join(OBJECT));

    let error = apply(&first, &LocalStorage::new(dir.path()), &stage_a).expect_err("refused");
    assert_eq!(error.step, "check-base");
    assert!(
        matches!(error.error, exec::Error::BaseChanged { .. }),
        "{error}"
    );
    assert!(!error.error.is_retriable());
    assert!(
        error.to_string().contains("root/obj/inventory.json"),
        "{error}"
    );
    // Steps that write into the object check again on their own.
    let fs = LocalStorage::new(dir.path());
    let install = first.step("install-root-inventory").expect("step");
    let error = exec::execute(&first, install, &fs, &stage_a).expect_err("refused");
    assert!(
        matches!(
            error,
            exec::Error::BaseChanged { .. } | exec::Error::Occupied { .. }
        ),
        "{error}"
    );
    assert_eq!(
        read_tree(&dir.path().join(OBJECT)),
        before,
        "object untouched"
    );
    assert_valid(dir.path(), OBJECT);
}

#[test]
fn refuses_to_create_over_an_existing_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let (stage, outcome) = plan_for(dir.path(), &source, &tree(&[("a", "1")]), &options(), 1);
    let plan = update(outcome);
    let other = dir.path().join("other");
    write_tree(&other, &tree(&[("b", "2")]));
    commit(dir.path(), &other, &options(), &StageOptions::default(), 2).expect("first creator");
    let error = apply(&plan, &LocalStorage::new(dir.path()), &stage).expect_err("refused");
    assert!(
        matches!(error.error, exec::Error::Occupied { .. }),
        "{error}"
    );
    assert_valid(dir.path(), OBJECT);
}

#[test]
fn a_second_apply_skips_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2"), ("b", "1")]);
    let fs = LocalStorage::new(dir.path());
    let first = apply(&plan, &fs, &stage).expect("apply");
    assert!(!wrote_nothing(&first));
    let again = apply(&plan, &fs, &stage).expect("apply again");
    assert!(wrote_nothing(&again), "{again:?}");
    assert!(again.iter().any(|r| matches!(r, StepResult::Skipped(_))));
    assert_valid(dir.path(), OBJECT);
}

#[test]
fn a_source_changed_after_staging_fails_the_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let (stage, outcome) = plan_for(
        dir.path(),
        &source,
        &tree(&[("a.txt", "original")]),
        &options(),
        1,
    );
    let plan = update(outcome);
    fs::write(source.join("a.txt"), b"tampered").expect("change source");
    let error = apply(&plan, &LocalStorage::new(dir.path()), &stage).expect_err("refused");
    assert_eq!(error.step, "copy v1/content/a.txt");
    assert!(
        matches!(error.error, exec::Error::SourceChanged { .. }),
        "{error}"
    );
    assert!(!error.error.is_retriable());
    assert!(error.to_string().contains("src/a.txt"), "{error}");
    assert!(!dir.path().join(OBJECT).exists());
}

#[test]
fn refuses_a_tampered_inventory_and_bad_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &tree(&[("a", "1")]));
    commit(dir.path(), &source, &options(), &StageOptions::default(), 1).expect("v1");
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let fs = LocalStorage::new(dir.path());
    let base = read_base(&fs, OBJECT).expect("base");

    let mut wrong_id = options();
    wrong_id.object_id = "urn:example:other".into();
    let error = plan(base.as_ref(), &stage, &wrong_id, created(2)).expect_err("id");
    assert!(error.to_string().contains("urn:example:other"), "{error}");
    let mut wrong_algorithm = options();
    wrong_algorithm.digest_algorithm = Some(DigestAlgorithm::Sha256);
    assert!(matches!(
        plan(base.as_ref(), &stage, &wrong_algorithm, created(2)),
        Err(plan::Error::DigestAlgorithm { .. })
    ));
    let mut fixity = options();
    fixity.fixity = vec![DigestAlgorithm::Md5];
    assert!(matches!(
        plan(base.as_ref(), &stage, &fixity, created(2)),
        Err(plan::Error::MissingFixity { .. })
    ));
    let mut nested = options();
    nested.work_path = format!("{OBJECT}/work");
    assert!(matches!(
        plan(base.as_ref(), &stage, &nested, created(2)),
        Err(plan::Error::Path { .. })
    ));

    let inventory = dir.path().join(OBJECT).join("inventory.json");
    let mut bytes = fs::read(&inventory).expect("read");
    bytes.extend_from_slice(b" ");
    fs::write(&inventory, bytes).expect("tamper");
    let error = read_base(&fs, OBJECT).expect_err("tampered");
    assert!(
        error.to_string().contains("root/obj/inventory.json"),
        "{error}"
    );
}

/// Local storage that says it cannot rename atomically, as an object store does.
struct NoAtomicRenames(LocalStorage);

impl Storage for NoAtomicRenames {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.0.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.0.kind(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        self.0.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.0.create(path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.0.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.0.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.0.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.0.remove(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.0.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.0.sync_tree(dir)
    }
    fn display_path(&self, path: &str) -> String {
        format!("store://bucket/{path}")
    }
    fn renames_atomically(&self) -> bool {
        false
    }
}

#[test]
fn a_storage_without_atomic_renames_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let (stage, outcome) = plan_for(dir.path(), &source, &tree(&[("a", "1")]), &options(), 1);
    let plan = update(outcome);
    let store = NoAtomicRenames(LocalStorage::new(dir.path()));
    let error = apply(&plan, &store, &stage).expect_err("refused");
    assert!(
        matches!(&error.error, exec::Error::RenamesNotAtomic { storage } if storage == "store://bucket/"),
        "{error}"
    );
    assert!(!error.error.is_retriable());
    assert!(matches!(
        exec::abandon(&plan, &store),
        Err(exec::Error::RenamesNotAtomic { .. })
    ));
    assert!(!dir.path().join("root").exists(), "nothing written");
    assert!(
        !dir.path().join("root.ocfl-work").exists(),
        "nothing written"
    );
    apply(&plan, &store.0, &stage).expect("the same plan on local storage");
    assert_valid(dir.path(), OBJECT);
}

/// The object-store protocol's plan: check, claim, the version's files and content to their
/// final keys, the declaration, then the conditional root inventory and sidecar; no work
/// area, no renames. It round-trips through JSON and knows its protocol.
#[test]
fn object_store_plans_claim_upload_and_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let mut object_store = options();
    object_store.protocol = plan::Protocol::ObjectStore;
    let t = tree(&[("a.txt", "alpha"), ("d/b.txt", "beta")]);
    let (_, outcome) = plan_for(dir.path(), &source, &t, &object_store, 1);
    let plan = update(outcome);
    let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "check-base",
            "claim",
            "version-sidecar",
            "copy v1/content/a.txt",
            "copy v1/content/d/b.txt",
            "declare",
            "commit",
            "root-sidecar"
        ]
    );
    assert_eq!(plan.protocol(), plan::Protocol::ObjectStore);
    assert_eq!(
        plan.step("commit").map(|s| &s.action),
        Some(&Action::Commit {
            path: format!("{OBJECT}/inventory.json")
        })
    );
    let json = plan.to_json().expect("serializable");
    assert_eq!(Plan::from_json(&json).expect("round trip"), plan);
    let (_, local) = plan_for(dir.path(), &source, &t, &options(), 1);
    assert_eq!(update(local).protocol(), plan::Protocol::Rename);
}

/// An engine runs one executor per batch of a plan's steps: finding the protocol must not
/// scan every step each time (that made a million-file commit quadratic). A plan the builder
/// made knows its protocol; a plan read back finds it once, whatever the number of batches.
#[test]
fn the_protocol_is_found_once_per_plan_not_once_per_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let t = tree(&[("a.txt", "alpha"), ("d/b.txt", "beta")]);
    let fs = LocalStorage::new(dir.path());
    for protocol in [plan::Protocol::Rename, plan::Protocol::ObjectStore] {
        let mut with = options();
        with.protocol = protocol;
        let (stage, outcome) = plan_for(dir.path(), &source, &t, &with, 1);
        let built = update(outcome);
        let decoded = Plan::from_json(&built.to_json().expect("serializable")).expect("decoded");
        assert_eq!(
            decoded, built,
            "the known protocol is not part of the plan's value"
        );
        let before = plan::protocol_scans();
        for plan in [&built, &decoded] {
            for _ in 0..50 {
                drop(exec::Executor::new(plan, &fs, &stage));
                assert_eq!(plan.protocol(), protocol);
            }
        }
        assert_eq!(
            plan::protocol_scans() - before,
            1,
            "{protocol:?}: only the decoded plan scans its steps, once"
        );
    }
}

/// A directory has no conditional writes: the object-store protocol stops at its claim, with
/// an error that retrying will not fix, and nothing written.
#[test]
fn object_store_plans_are_refused_by_a_directory_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("mkdir");
    let mut object_store = options();
    object_store.protocol = plan::Protocol::ObjectStore;
    let (stage, outcome) = plan_for(&root, &source, &tree(&[("a.txt", "a")]), &object_store, 1);
    let error = apply(&update(outcome), &LocalStorage::new(&root), &stage).expect_err("refused");
    assert_eq!(error.step, "claim");
    assert!(
        matches!(
            error.error,
            exec::Error::Storage(StorageError::Unsupported { .. })
        ),
        "{error}"
    );
    assert!(!error.error.is_retriable());
    assert_eq!(read_tree(&root), Tree::new());
}

/// Local storage that counts the files opened for reading, by path. With `tags`, it gives
/// each file a tag (`Storage::file_info`) that any replacement or write changes, at once (a
/// local directory gives none for a file changed in the last seconds).
struct CountingOpens {
    inner: LocalStorage,
    opened: std::sync::Mutex<Vec<String>>,
    tags: bool,
}

impl CountingOpens {
    fn new(root: &std::path::Path, tags: bool) -> CountingOpens {
        CountingOpens {
            inner: LocalStorage::new(root),
            opened: std::sync::Mutex::new(Vec::new()),
            tags,
        }
    }

    fn opens_of(&self, path: &str) -> usize {
        let opened = self.opened.lock().expect("lock");
        opened.iter().filter(|p| *p == path).count()
    }
}

impl Storage for CountingOpens {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }
    fn size(&self, path: &str) -> Result<u64, StorageError> {
        self.inner.size(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        self.opened.lock().expect("lock").push(path.to_owned());
        self.inner.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.inner.create(path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.inner.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(dir)
    }
    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        use std::os::unix::fs::MetadataExt;
        if !self.tags {
            return self.inner.file_info(path);
        }
        let full = self.inner.resolve(path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| StorageError::io("stat", path, e))?;
        Ok(FileInfo {
            tag: Some(Tag(format!(
                "{}:{}:{}.{}",
                meta.ino(),
                meta.len(),
                meta.ctime(),
                meta.ctime_nsec()
            ))),
            metadata: Default::default(),
        })
    }
}

/// One run of an update's steps reads back none of the inventories it wrote itself (for a
/// large object each is tens of megabytes): the new version's and the prepared root one are
/// known from the writing. The object's root inventory is still read before each rename into
/// the object, where another writer may have changed it; and a second run, which knows
/// nothing of the first, reads what it finds.
#[test]
fn an_update_does_not_read_back_the_inventories_it_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2"), ("b", "1")]);
    let fs = CountingOpens::new(dir.path(), false);
    apply(&plan, &fs, &stage).expect("apply");
    assert_valid(dir.path(), OBJECT);
    let version_inventory = format!("{OBJECT}/v2/inventory.json");
    let prepared = format!("{WORK}/root/inventory.json");
    assert_eq!(fs.opens_of(&version_inventory), 0);
    assert_eq!(fs.opens_of(&prepared), 0);
    // At least by check-base, move-version, and the installs of the root inventory and its
    // sidecar.
    assert!(fs.opens_of(&format!("{OBJECT}/inventory.json")) >= 4);

    let again = apply(&plan, &fs, &stage).expect("apply again");
    assert!(wrote_nothing(&again), "{again:?}");
    assert!(fs.opens_of(&version_inventory) > 0);
}

/// On a storage with tags, a batch of steps reads the object's root inventory once while its
/// tag stays the same: check-base reads the base, move-version and the install of the new
/// root inventory find the same tag; the sidecar's install finds another (the new
/// inventory, renamed there) and reads it. Without tags it is read before each of them.
#[test]
fn a_batch_reads_the_root_inventory_again_only_when_its_tag_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2")]);
    let fs = CountingOpens::new(dir.path(), true);
    apply(&plan, &fs, &stage).expect("apply");
    assert_valid(dir.path(), OBJECT);
    assert_eq!(fs.opens_of(&format!("{OBJECT}/inventory.json")), 2);
}

/// Batches of one process that share what they read of the root inventory (`RootTags`) read
/// it once while its tag stays the same, each step run as its own batch here: check-base
/// reads the base, the renames find its tag known; the sidecar's install finds the new
/// inventory and reads it. Separate batches that share nothing read it before each rename;
/// and a digest recorded before the run (the pre-run check's read) spares check-base's too.
#[test]
fn batches_sharing_root_tags_read_the_root_inventory_again_only_when_its_tag_changed() {
    let root_inventory = format!("{OBJECT}/inventory.json");
    // Each step as its own batch: sharing one `RootTags` or not, seeded or not.
    let opens = |share: bool, seed: bool| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2")]);
        let fs = CountingOpens::new(dir.path(), true);
        let tags = Arc::new(exec::RootTags::new());
        if let (true, Some(base)) = (seed, &plan.base) {
            let tag = fs
                .file_info(&root_inventory)
                .expect("info")
                .tag
                .expect("tag");
            tags.record(
                &root_inventory,
                tag,
                plan.digest_algorithm,
                base.digest.clone(),
            );
        }
        for step in &plan.steps {
            let mut executor = exec::Executor::new(&plan, &fs, &stage);
            if share {
                executor = executor.sharing_root_tags(Arc::clone(&tags));
            }
            executor.execute(step).expect("step");
        }
        assert_valid(dir.path(), OBJECT);
        fs.opens_of(&root_inventory)
    };
    assert!(opens(false, false) >= 4);
    assert_eq!(opens(true, false), 2);
    assert_eq!(opens(true, true), 1);
}

/// A root inventory replaced between two batches that share their knowledge has another tag:
/// the next rename into the object reads it and refuses the run.
#[test]
fn a_root_inventory_replaced_between_sharing_batches_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2")]);
    let fs = CountingOpens::new(dir.path(), true);
    let tags = Arc::new(exec::RootTags::new());
    let root_inventory = format!("{OBJECT}/inventory.json");
    for step in &plan.steps {
        let executor = exec::Executor::new(&plan, &fs, &stage).sharing_root_tags(Arc::clone(&tags));
        if matches!(step.action, Action::MoveIn { .. }) {
            let mut other = fs.inner.read(&root_inventory).expect("read");
            let last = other.len() - 1;
            other[last] = if other[last] == b' ' { b'\n' } else { b' ' };
            fs.inner
                .write_atomic(&root_inventory, &other)
                .expect("replace");
            let error = executor.execute(step).expect_err("refused");
            assert!(matches!(error, exec::Error::BaseChanged { .. }), "{error}");
            return;
        }
        executor.execute(step).expect("step");
    }
    panic!("the plan has no move-version step");
}

/// A root inventory replaced between two steps of one batch (another writer) has another
/// tag: the next rename into the object reads it and refuses the run.
#[test]
fn a_root_inventory_replaced_within_a_batch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stage, plan) = v1_and_update_to(dir.path(), &[("a", "2")]);
    let fs = CountingOpens::new(dir.path(), true);
    let executor = exec::Executor::new(&plan, &fs, &stage);
    let root_inventory = format!("{OBJECT}/inventory.json");
    for step in &plan.steps {
        if matches!(step.action, Action::MoveIn { .. }) {
            // Same bytes but one: another writer's inventory of the same size.
            let mut other = fs.inner.read(&root_inventory).expect("read");
            let last = other.len() - 1;
            other[last] = if other[last] == b' ' { b'\n' } else { b' ' };
            fs.inner
                .write_atomic(&root_inventory, &other)
                .expect("replace");
            let error = executor.execute(step).expect_err("refused");
            assert!(matches!(error, exec::Error::BaseChanged { .. }), "{error}");
            return;
        }
        executor.execute(step).expect("step");
    }
    panic!("the plan has no move-version step");
}

/// A plan's blob carries the new inventory as its raw bytes, not escaped inside the JSON,
/// and reads back whole; the JSON form earlier releases recorded reads too.
#[test]
fn a_plan_blob_carries_the_inventory_unescaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, mut plan) = v1_and_update_to(dir.path(), &[("a", "2")]);
    let mut blob = Vec::new();
    plan.write_blob(&mut blob).expect("write");
    let inventory = plan.inventory.as_bytes();
    assert!(blob.windows(inventory.len()).any(|w| w == inventory));
    // Once, and shorter than the JSON, which escapes its every quote.
    assert!(blob.len() < plan.to_json().expect("json").len());
    assert_eq!(Plan::read_blob(&blob[..]).expect("read"), plan);
    let json = plan.to_json().expect("json");
    assert_eq!(Plan::read_blob(json.as_bytes()).expect("read json"), plan);
    blob.truncate(blob.len() / 2);
    assert!(Plan::read_blob(&blob[..]).is_err());
}
