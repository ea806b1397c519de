//! Power cuts at every operation of an update, under the POSIX and ext4 persistence models
//! and on an object store (`ocfl_plan::powercut`): every crash state is checked (the object
//! valid at its old or new version, or in the documented window with exactly its codes;
//! nothing outside the root and its work area touched), then recovered as the durable engine
//! resumes a run (from the first step it had not acknowledged: the engine's store is durable
//! on its own, so every step that returned counts as acknowledged) and as a full re-run
//! would, and the final object compared byte for byte with an uninterrupted run's.
//!
//! `cargo test -p ocfl-plan --test integration powercut` runs small objects with few states
//! per crash point; `cargo test -p ocfl-plan --test integration powercut_full -- --ignored
//! --nocapture` runs them exhaustively and larger ones sampled (seed: `POWERCUT_SEED`),
//! printing the counts `docs/durability.md` reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ocfl_core::SpecVersion;
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::inventory::parse_inventory;
use ocfl_core::layout::Layout;
use ocfl_core::object::{ObjectError, purge_object, rollback_object};
use ocfl_core::storage::{LocalStorage, Storage};
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;
use ocfl_plan::exec::{execute, read_base};
use ocfl_plan::plan::{Outcome, Plan, PlanOptions, Protocol, plan};
use ocfl_plan::powercut::{Bound, FileNode, Model, SimStorage, Snapshot, materialize};
use ocfl_plan::stage::{Stage, StageOptions};

use crate::util::*;

const OBJECT: &str = "root/obj";
const WORK: &str = "root.ocfl-work/run";
const WORK_AREA: &str = "root.ocfl-work";
const SENTINEL: &str = "elsewhere/keep.txt";

/// Steps during which a crash may leave the object invalid (`docs/durability.md`, sections
/// 5 and 11.4).
const WINDOW: &[&str] = &[
    "move-version",
    "install-root-inventory",
    "install-root-sidecar",
    "install-declaration",
    "remove-old-declaration",
    "version-sidecar",
    "copy",
    "commit",
    "commit-sidecar",
];

/// The codes of each window state (section 9's table): a version directory the root
/// inventory does not name, with what follows from it; the new inventory with the old
/// sidecar; the upgrade's declarations.
fn window_codes(codes: &BTreeSet<String>) -> bool {
    let set = |list: &[&str]| {
        list.iter()
            .map(|c| (*c).to_owned())
            .collect::<BTreeSet<_>>()
    };
    // E103 on a spec upgrade: the new version's inventory declares 1.1, the root's 1.0.
    let unnamed = set(&["E046", "E023", "E040", "E064", "E066", "E103"]);
    (codes.contains("E046") && codes.is_subset(&unnamed))
        // On a spec upgrade the 1.1 inventory meets the 1.0 declaration while its sidecar
        // is still the old one: E060 and E038 at once, then E038, then E003.
        || (!codes.is_empty() && codes.is_subset(&set(&["E060", "E038", "E003"])))
}

/// The object store's window (section 11.4): from the claim to the commit a version
/// directory the root inventory does not name, with content still arriving (E092) and its
/// sidecar not yet written (E058); a new object has no declaration or no root inventory until
/// the commit (not an object yet); then the new inventory with the old sidecar (E060), or
/// none yet for a new object (E058).
fn object_store_window(codes: &BTreeSet<String>, new_object: bool, storage: &SimStorage) -> bool {
    let root_inventory = storage
        .kind_if_exists(&format!("{OBJECT}/inventory.json"))
        .ok()
        .flatten();
    if new_object && root_inventory.is_none() {
        return true;
    }
    let set = |list: &[&str]| {
        list.iter()
            .map(|c| (*c).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let unnamed = set(&["E046", "E023", "E040", "E064", "E066", "E092", "E058"]);
    (codes.contains("E046") && codes.is_subset(&unnamed))
        || *codes == set(&["E060"])
        // A new object's inventory before its first sidecar: no old sidecar to mismatch.
        || (new_object && *codes == set(&["E058"]))
}

/// One scenario: a plan, its source, the tree it starts from.
struct Scenario {
    name: String,
    plan: Plan,
    stage: Stage,
    initial: Snapshot,
    object_store: bool,
    old_head: Option<String>,
}

/// What a scenario checked, per model.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    points: usize,
    exhaustive_points: usize,
    states: usize,
}

fn base_snapshot() -> Snapshot {
    let mut s = Snapshot::new();
    s.insert("root".into(), None);
    s.insert(
        "root/0=ocfl_1.1".into(),
        Some(FileNode::new(*b"ocfl_1.1\n")),
    );
    s.insert("elsewhere".into(), None);
    s.insert(SENTINEL.into(), Some(FileNode::new(*b"not ours")));
    s
}

fn options(object_store: bool) -> PlanOptions {
    let mut options = PlanOptions::new("urn:example:powercut", OBJECT, WORK);
    if object_store {
        options.protocol = Protocol::ObjectStore;
    }
    options
}

/// Runs `plan` whole on `storage`.
fn run_all(plan: &Plan, storage: &SimStorage, stage: &Stage) {
    for step in &plan.steps {
        execute(plan, step, storage, stage).unwrap_or_else(|e| panic!("step {}: {e}", step.id));
    }
}

fn head_of(storage: &dyn Storage) -> Option<String> {
    let bytes = storage.read(&format!("{OBJECT}/inventory.json")).ok()?;
    Some(parse_inventory(&bytes).inventory?.head.to_string())
}

/// The versions committed before the scenario, `sources` in turn, then a plan to `last`
/// (or, with `revert`, back to the first version's state).
fn scenario(
    name: &str,
    dir: &Path,
    sources: &[Tree],
    last: &Tree,
    object_store: bool,
    upgrade: bool,
    revert: bool,
) -> Option<Scenario> {
    let storage = SimStorage::from_snapshot(&base_snapshot(), object_store);
    let source = dir.join(format!("source-{name}"));
    for (n, tree) in sources.iter().enumerate() {
        write_tree(&source, tree);
        let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
        let mut opts = options(object_store);
        opts.work_path = format!("{WORK_AREA}/setup-{n}");
        if upgrade {
            opts.spec_version = Some(SpecVersion::V1_0);
        }
        let base = read_base(&storage, OBJECT).expect("base");
        if let Outcome::Update(plan) =
            plan(base.as_ref(), &stage, &opts, created(n as u32 + 1)).expect("plan")
        {
            run_all(&plan, &storage, &stage);
        }
    }
    let base = read_base(&storage, OBJECT).expect("base");
    let stage = if revert {
        let bytes = storage
            .read(&format!("{OBJECT}/inventory.json"))
            .expect("inventory");
        let inventory = parse_inventory(&bytes).inventory.expect("inventory");
        let first = inventory.versions.values().next().expect("a version");
        Stage::from_edits(
            &first.state,
            &dir.join("recorded"),
            &[],
            &StageOptions::default(),
        )
        .expect("stage")
    } else {
        write_tree(&source, last);
        Stage::from_directory(&source, &StageOptions::default()).expect("stage")
    };
    let mut opts = options(object_store);
    if upgrade {
        opts.spec_version = Some(SpecVersion::V1_1);
    }
    let old_head = head_of(&storage);
    match plan(
        base.as_ref(),
        &stage,
        &opts,
        created(sources.len() as u32 + 1),
    )
    .expect("plan")
    {
        Outcome::Update(plan) => Some(Scenario {
            name: name.to_owned(),
            plan,
            stage,
            initial: storage.snapshot(),
            object_store,
            old_head,
        }),
        Outcome::NoChange { .. } => None,
    }
}

fn below<'a>(
    snapshot: &'a Snapshot,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Option<FileNode>)> {
    snapshot
        .iter()
        .filter(move |(p, _)| *p == prefix || p.starts_with(&format!("{prefix}/")))
}

fn outside(snapshot: &Snapshot, prefixes: &[&str]) -> Snapshot {
    snapshot
        .iter()
        .filter(|(p, _)| {
            !prefixes
                .iter()
                .any(|prefix| *p == prefix || p.starts_with(&format!("{prefix}/")))
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

/// Everything outside the object and the work area is as it was; the committed versions are
/// untouched.
fn check_untouched(state: &Snapshot, initial: &Snapshot, at: &str) {
    assert_eq!(
        outside(state, &[OBJECT, WORK_AREA]),
        outside(initial, &[OBJECT, WORK_AREA]),
        "{at}: something outside the object and the work area changed"
    );
    for (path, bytes) in below(initial, OBJECT) {
        if path.starts_with(&format!("{OBJECT}/v")) && bytes.is_some() {
            assert_eq!(
                state.get(path),
                Some(bytes),
                "{at}: committed file {path} changed"
            );
        }
    }
}

/// The object in a crash state: valid at the old or the new version, absent only if new,
/// or in the window with exactly its codes.
fn check_crash_state(s: &Scenario, state: &Snapshot, step: Option<&str>, at: &str) {
    check_untouched(state, &s.initial, at);
    let storage = SimStorage::from_snapshot(state, s.object_store);
    if storage.kind_if_exists(OBJECT).expect("stat").is_none() {
        assert!(s.old_head.is_none(), "{at}: the object vanished");
        return;
    }
    let report = validate_object(&storage, OBJECT, &ValidationOptions::default());
    if report.is_valid() {
        let head = head_of(&storage).expect("a valid object has a head");
        assert!(
            Some(&head) == s.old_head.as_ref() || head == s.plan.version.to_string(),
            "{at}: valid at {head}"
        );
    } else {
        let codes: BTreeSet<String> = report.errors.iter().map(|f| f.code.to_string()).collect();
        let in_window = step.is_some_and(|id| {
            WINDOW
                .iter()
                .any(|w| id == *w || id.starts_with(&format!("{w} ")))
        });
        let documented = if s.object_store {
            object_store_window(&codes, s.old_head.is_none(), &storage)
        } else {
            in_window && window_codes(&codes)
        };
        assert!(
            documented,
            "{at}: invalid outside the window: {:?}",
            report.errors
        );
    }
}

/// Recovers from `state` by running the plan's steps from `from` on a new boot, and checks
/// the object is the uninterrupted run's, byte for byte.
fn recover(s: &Scenario, state: &Snapshot, from: usize, expected: &Snapshot, at: &str) {
    let storage = SimStorage::from_snapshot(state, s.object_store);
    for step in &s.plan.steps[from..] {
        if let Err(e) = execute(&s.plan, step, &storage, &s.stage) {
            panic!("{at}: recovery from step {from}: step {}: {e}", step.id);
        }
    }
    let after = storage.snapshot();
    let at = format!("{at}, recovered from step {from}");
    let found: Snapshot = below(&after, OBJECT)
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    let wanted: Snapshot = below(expected, OBJECT)
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    let differing: Vec<&String> = found
        .keys()
        .chain(wanted.keys())
        .filter(|p| found.get(*p) != wanted.get(*p))
        .collect();
    assert!(
        differing.is_empty(),
        "{at}: the object differs from an uninterrupted run's: {differing:?}"
    );
    check_untouched(&after, &s.initial, &at);
    for (path, _) in below(&after, WORK_AREA) {
        let leftover_allowed = from == s.plan.steps.len() || path == WORK_AREA;
        assert!(
            leftover_allowed || !path.starts_with(WORK),
            "{at}: {path} left in the work area"
        );
    }
}

/// Every crash point of `storage`'s recorded run, every state each model allows there
/// (within `bound`), given to `check(point, model, n, state)`; the counts of what was seen.
fn each_crash_state(
    storage: &SimStorage,
    bound: &Bound,
    mut check: impl FnMut(usize, Model, usize, &Snapshot),
) -> BTreeMap<Model, Counts> {
    let mut counts: BTreeMap<Model, Counts> = BTreeMap::new();
    for point in 0..=storage.events() {
        for &model in Model::for_storage(storage) {
            let crash = storage.crash_states(point, model, bound);
            let c = counts.entry(model).or_default();
            c.points += 1;
            c.exhaustive_points += usize::from(crash.exhaustive);
            c.states += crash.states.len();
            for (n, state) in crash.states.iter().enumerate() {
                check(point, model, n, state);
            }
        }
    }
    counts
}

/// Every crash point of the scenario, every state each model allows there (within
/// `bound`), checked and recovered.
fn explore(s: &Scenario, bound: &Bound) -> BTreeMap<Model, Counts> {
    let storage = SimStorage::from_snapshot(&s.initial, s.object_store);
    let mut boundaries = Vec::new();
    for step in &s.plan.steps {
        execute(&s.plan, step, &storage, &s.stage).expect("uninterrupted run");
        boundaries.push(storage.events());
    }
    let expected = storage.snapshot();
    each_crash_state(&storage, bound, |point, model, n, state| {
        // Steps that returned before the cut: the engine has acknowledged them.
        let acked = boundaries.iter().take_while(|&&b| b <= point).count();
        let step = s.plan.steps.get(acked).map(|step| step.id.as_str());
        let at = format!(
            "{}: {model:?} crash at operation {point} (in step {step:?}), state {n}",
            s.name
        );
        check_crash_state(s, state, step, &at);
        recover(s, state, acked, &expected, &at);
        if acked > 0 {
            recover(s, state, 0, &expected, &at);
        }
    })
}

/// The scenarios: a new object, an update (with a spec upgrade too), a revert, on a
/// filesystem and on an object store. `size` files per version.
fn scenarios(dir: &Path, size: usize) -> Vec<Scenario> {
    let first: Tree = (0..size)
        .map(|i| {
            (
                format!("d{}/f{i}.txt", i % 2),
                format!("one {i}").into_bytes(),
            )
        })
        .collect();
    let mut second = first.clone();
    second.insert("new.txt".into(), b"added".to_vec());
    // Every other file changed: the update copies about half of the object.
    for (path, _) in first.iter().step_by(2) {
        second.insert(path.clone(), format!("changed {path}").into_bytes());
    }
    let mut out = Vec::new();
    for object_store in [false, true] {
        let medium = if object_store {
            "object store"
        } else {
            "filesystem"
        };
        out.extend(scenario(
            &format!("new object ({medium})"),
            dir,
            &[],
            &first,
            object_store,
            false,
            false,
        ));
        out.extend(scenario(
            &format!("update ({medium})"),
            dir,
            std::slice::from_ref(&first),
            &second,
            object_store,
            false,
            false,
        ));
        out.extend(scenario(
            &format!("revert ({medium})"),
            dir,
            &[first.clone(), second.clone()],
            &Tree::new(),
            object_store,
            false,
            true,
        ));
    }
    out.extend(scenario(
        "update with spec upgrade (filesystem)",
        dir,
        std::slice::from_ref(&first),
        &second,
        false,
        true,
        false,
    ));
    out
}

fn seed() -> u64 {
    std::env::var("POWERCUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16)
}

fn report(name: &str, counts: &BTreeMap<Model, Counts>) {
    for (model, c) in counts {
        println!(
            "powercut: {name}: {model:?}: {} crash points ({} exhaustive), {} states",
            c.points, c.exhaustive_points, c.states
        );
    }
}

#[test]
fn powercut_every_state_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bound = Bound {
        exhaustive_up_to: 8,
        samples: 8,
        seed: seed(),
    };
    for s in scenarios(dir.path(), 1) {
        let counts = explore(&s, &bound);
        assert!(
            counts.values().all(|c| c.states > c.points / 2),
            "{}: states were checked",
            s.name
        );
        report(&s.name, &counts);
    }
}

#[test]
#[ignore = "minutes: cargo test -p ocfl-plan --test integration powercut_full -- --ignored --nocapture"]
fn powercut_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (size, bound) in [
        (
            1,
            Bound {
                exhaustive_up_to: 1 << 14,
                samples: 0,
                seed: seed(),
            },
        ),
        (
            3,
            Bound {
                exhaustive_up_to: 4096,
                samples: 256,
                seed: seed(),
            },
        ),
        (
            12,
            Bound {
                exhaustive_up_to: 256,
                samples: 128,
                seed: seed(),
            },
        ),
    ] {
        for s in scenarios(dir.path(), size) {
            let counts = explore(&s, &bound);
            report(&format!("{} [{size} files]", s.name), &counts);
        }
        report(
            &format!("rollback [{size} files]"),
            &explore_rollback(dir.path(), size, false, &bound),
        );
        let (initial, object_path) = purge_root(dir.path(), size);
        report(
            &format!("purge [{size} files]"),
            &explore_purge(&initial, &object_path, &bound),
        );
    }
}

/// A storage root (layout 0004, so the object sits below tuple directories a purge prunes)
/// holding one object, beside the sentinel.
fn purge_root(dir: &Path, files: usize) -> (Snapshot, String) {
    layout_root(dir, files, 1)
}

/// A storage root (layout 0004, so the object sits below tuple directories a purge prunes)
/// holding one object of `versions` versions, beside the sentinel.
fn layout_root(dir: &Path, files: usize, versions: u32) -> (Snapshot, String) {
    let root = dir.join(format!("layout-root-{files}-{versions}"));
    init_storage_root(&LocalStorage::new(&root), &InitOptions::default()).expect("init");
    let mut snapshot = Snapshot::new();
    snapshot.insert("root".into(), None);
    snapshot.insert("elsewhere".into(), None);
    snapshot.insert(SENTINEL.into(), Some(FileNode::new(*b"not ours")));
    for (path, bytes) in read_tree(&root) {
        match path.strip_suffix('/') {
            Some(d) => snapshot.insert(format!("root/{d}"), None),
            None => snapshot.insert(format!("root/{path}"), Some(FileNode::new(bytes))),
        };
    }
    let storage = SimStorage::from_snapshot(&snapshot, false);
    let object_path = format!(
        "root/{}",
        Layout::default_layout().map_object_id(PURGED).expect("map")
    );
    let source = dir.join(format!("layout-source-{files}-{versions}"));
    for version in 1..=versions {
        write_tree(
            &source,
            &(0..files)
                .map(|i| (format!("f{i}"), format!("{i} in v{version}").into_bytes()))
                .collect(),
        );
        let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
        let opts = PlanOptions::new(PURGED, &object_path, "root.ocfl-work/setup");
        let base = read_base(&storage, &object_path).expect("base");
        let Outcome::Update(plan) =
            plan(base.as_ref(), &stage, &opts, created(version)).expect("plan")
        else {
            panic!("every version changes every file");
        };
        run_all(&plan, &storage, &stage);
    }
    (storage.snapshot(), object_path)
}

const PURGED: &str = "urn:example:purged";

/// A purge: every crash state keeps the object valid or has it gone from the root (empty
/// layout directories aside, which the purge run again removes), and purging again
/// finishes it, leaving the root as an uninterrupted purge does.
fn explore_purge(initial: &Snapshot, object_path: &str, bound: &Bound) -> BTreeMap<Model, Counts> {
    let top = object_path
        .splitn(3, '/')
        .take(2)
        .collect::<Vec<_>>()
        .join("/");
    let storage = SimStorage::from_snapshot(initial, false);
    purge_object(&storage, "root", WORK_AREA, PURGED).expect("uninterrupted purge");
    let expected = storage.snapshot();
    each_crash_state(&storage, bound, |point, model, n, state| {
        let at = format!("purge: {model:?} crash at operation {point}, state {n}");
        assert_eq!(
            outside(state, &[&top, WORK_AREA]),
            outside(initial, &[&top, WORK_AREA]),
            "{at}: outside touched"
        );
        let crashed = SimStorage::from_snapshot(state, false);
        if crashed.kind_if_exists(object_path).expect("stat").is_some() {
            let report = validate_object(&crashed, object_path, &ValidationOptions::default());
            assert!(report.is_valid(), "{at}: {:?}", report.errors);
            for (path, file) in below(initial, object_path) {
                assert_eq!(state.get(path), Some(file), "{at}: {path} changed");
            }
        }
        match purge_object(&crashed, "root", WORK_AREA, PURGED) {
            Ok(_) => {}
            Err(ObjectError::NotFound { .. }) => {}
            Err(e) => panic!("{at}: purging again: {e}"),
        }
        let after = crashed.snapshot();
        assert_eq!(
            outside(&after, &[WORK_AREA]),
            outside(&expected, &[WORK_AREA]),
            "{at}: purging again leaves another root"
        );
        let left: Vec<&String> = below(&after, WORK_AREA)
            .map(|(p, _)| p)
            .filter(|p| *p != WORK_AREA)
            .collect();
        assert!(
            left.is_empty(),
            "{at}: purging again leaves {left:?} in the work area"
        );
    })
}

#[test]
fn powercut_purge_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (initial, object_path) = purge_root(dir.path(), 1);
    let bound = Bound {
        exhaustive_up_to: 8,
        samples: 8,
        seed: seed(),
    };
    let counts = explore_purge(&initial, &object_path, &bound);
    report("purge", &counts);
}

/// A rollback from v3 to v1 (section 4b), on a filesystem or `in_bucket` (section 4b, "In a
/// bucket": the root inventory and sidecar written in place, then the later versions' keys
/// deleted, newest first). Every crash state touches nothing outside the object (and, on a
/// filesystem, the rollback's staging directory, its work area), holds the object valid at v3
/// or v1, or in the rollback's window with exactly its codes (the kept version's inventory
/// with the old sidecar, E060; later version directories the root inventory does not name,
/// E046, in a bucket partly deleted, E092; and what follows from reading them); running the
/// same rollback again finishes it, as an uninterrupted one leaves the object.
fn explore_rollback(
    dir: &Path,
    files: usize,
    in_bucket: bool,
    bound: &Bound,
) -> BTreeMap<Model, Counts> {
    let (parent_view, object_path) = layout_root(dir, files, 3);
    // The rollback works on the storage root itself.
    let initial: Snapshot = parent_view
        .iter()
        .filter_map(|(p, f)| Some((p.strip_prefix("root/")?.to_owned(), f.clone())))
        .collect();
    let object_path = object_path
        .strip_prefix("root/")
        .expect("below the root")
        .to_owned();
    let own: &[&str] = if in_bucket {
        &[object_path.as_str()]
    } else {
        &[object_path.as_str(), "extensions/ocfl-rollback"]
    };
    // A bucket has no directories: its states are compared by their files.
    let same = |a: &Snapshot, b: &Snapshot| {
        if in_bucket {
            file_nodes(a) == file_nodes(b)
        } else {
            a == b
        }
    };
    let mut window = vec!["E060", "E046", "E023", "E040", "E064", "E066"];
    if in_bucket {
        window.push("E092");
    }
    let window: BTreeSet<String> = window.iter().map(|c| (*c).to_owned()).collect();
    let medium = if in_bucket { " in a bucket" } else { "" };
    let v1 = VersionNum::parse("v1").expect("v1");
    let storage = SimStorage::from_snapshot(&initial, in_bucket);
    rollback_object(&storage, PURGED, v1, false).expect("uninterrupted rollback");
    let expected = storage.snapshot();
    each_crash_state(&storage, bound, |point, model, n, state| {
        let at = format!("rollback{medium}: {model:?} crash at operation {point}, state {n}");
        assert!(
            same(&outside(state, own), &outside(&initial, own)),
            "{at}: outside the object and its staging directory touched"
        );
        let crashed = SimStorage::from_snapshot(state, in_bucket);
        let report = validate_object(&crashed, &object_path, &ValidationOptions::default());
        if report.is_valid() {
            let bytes = crashed
                .read(&format!("{object_path}/inventory.json"))
                .expect("inventory");
            let head = parse_inventory(&bytes).inventory.expect("parsed").head;
            assert!(
                ["v1", "v3"].contains(&head.to_string().as_str()),
                "{at}: {head}"
            );
        } else {
            let codes: BTreeSet<String> =
                report.errors.iter().map(|f| f.code.to_string()).collect();
            assert!(
                codes.contains("E046") && codes.is_subset(&window),
                "{at}: {:?}",
                report.errors
            );
        }
        if let Err(e) = rollback_object(&crashed, PURGED, v1, false) {
            panic!("{at}: rolling back again: {e}");
        }
        assert!(
            same(&crashed.snapshot(), &expected),
            "{at}: rolling back again leaves another object"
        );
    })
}

#[test]
fn powercut_rollback_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bound = Bound {
        exhaustive_up_to: 8,
        samples: 8,
        seed: seed(),
    };
    report("rollback", &explore_rollback(dir.path(), 1, false, &bound));
}

/// The crash states are real trees: written to disk (`materialize`), an update resumed there
/// through `LocalStorage` (on this machine's boot, not the simulated one's, so its copies are
/// checked again) ends with the uninterrupted run's object.
#[test]
fn powercut_states_recover_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first: Tree = (0..2)
        .map(|i| (format!("f{i}"), format!("one {i}").into_bytes()))
        .collect();
    let mut second = first.clone();
    second.insert("f0".into(), b"changed".to_vec());
    let s = scenario(
        "on disk",
        dir.path(),
        &[first],
        &second,
        false,
        false,
        false,
    )
    .expect("an update");
    let storage = SimStorage::from_snapshot(&s.initial, false);
    let mut boundaries = Vec::new();
    for step in &s.plan.steps {
        execute(&s.plan, step, &storage, &s.stage).expect("uninterrupted run");
        boundaries.push(storage.events());
    }
    let expected = storage.snapshot();
    let bound = Bound {
        exhaustive_up_to: 1,
        samples: 2,
        seed: seed(),
    };
    let mut recovered = 0;
    for point in (0..=storage.events()).step_by(5) {
        let acked = boundaries.iter().take_while(|&&b| b <= point).count();
        for state in storage.crash_states(point, Model::Posix, &bound).states {
            let disk = dir.path().join(format!("disk-{point}-{recovered}"));
            std::fs::create_dir_all(&disk).expect("mkdir");
            materialize(&state, &disk).expect("materialize");
            let local = LocalStorage::new(&disk);
            for step in &s.plan.steps[acked..] {
                execute(&s.plan, step, &local, &s.stage)
                    .unwrap_or_else(|e| panic!("point {point}: step {}: {e}", step.id));
            }
            let object = read_tree(&disk.join(OBJECT));
            let wanted: Tree = below(&expected, OBJECT)
                .filter(|(p, _)| *p != OBJECT)
                .map(|(p, f)| {
                    let rel = p[OBJECT.len() + 1..].to_owned();
                    match f {
                        Some(file) => (rel, file.data.clone()),
                        None => (format!("{rel}/"), Vec::new()),
                    }
                })
                .collect();
            assert_eq!(object, wanted, "point {point}: the object on disk differs");
            recovered += 1;
        }
    }
    assert!(recovered > 10, "{recovered} states recovered on disk");
}

/// A purge in a bucket (section 4d): keys deleted in place, root inventory first and the
/// declaration last. Every crash state leaves the rest of the root untouched and, while the
/// root inventory is there, the whole object valid (it goes first, so no reader meets an
/// inventory naming a deleted key); the same purge again removes every key of the object.
fn explore_purge_in_a_bucket(
    initial: &Snapshot,
    object_path: &str,
    bound: &Bound,
) -> BTreeMap<Model, Counts> {
    let storage = SimStorage::from_snapshot(initial, true);
    purge_object(&storage, "root", WORK_AREA, PURGED).expect("uninterrupted purge");
    let expected = storage.snapshot();
    assert!(
        below(&expected, object_path).all(|(_, node)| node.is_none()),
        "purged"
    );
    each_crash_state(&storage, bound, |point, model, n, state| {
        let at = format!("purge in a bucket: {model:?} crash at {point}, state {n}");
        assert_eq!(
            file_nodes(&outside(state, &[object_path])),
            file_nodes(&outside(initial, &[object_path])),
            "{at}: outside the object touched"
        );
        let crashed = SimStorage::from_snapshot(state, true);
        if crashed
            .kind_if_exists(&format!("{object_path}/inventory.json"))
            .expect("stat")
            .is_some()
        {
            let report = validate_object(&crashed, object_path, &ValidationOptions::default());
            assert!(report.is_valid(), "{at}: {:?}", report.errors);
        }
        match purge_object(&crashed, "root", WORK_AREA, PURGED) {
            Ok(_) => {}
            Err(ObjectError::NotFound { .. }) => {}
            Err(e) => panic!("{at}: purging again: {e}"),
        }
        assert_eq!(
            file_nodes(&crashed.snapshot()),
            file_nodes(&expected),
            "{at}: purging again leaves another root"
        );
    })
}

#[test]
fn powercut_purge_in_a_bucket_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (initial, object_path) = purge_root(dir.path(), 2);
    let bound = Bound {
        exhaustive_up_to: 8,
        samples: 8,
        seed: seed(),
    };
    report(
        "purge in a bucket",
        &explore_purge_in_a_bucket(&initial, &object_path, &bound),
    );
}

#[test]
fn powercut_rollback_in_a_bucket_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bound = Bound {
        exhaustive_up_to: 8,
        samples: 8,
        seed: seed(),
    };
    report(
        "rollback in a bucket",
        &explore_rollback(dir.path(), 1, true, &bound),
    );
}

/// The files of a snapshot: a bucket has no directories, so they are what a comparison of
/// two of its states looks at.
fn file_nodes(snapshot: &Snapshot) -> Vec<(&String, &FileNode)> {
    snapshot
        .iter()
        .filter_map(|(path, node)| Some((path, node.as_ref()?)))
        .collect()
}
