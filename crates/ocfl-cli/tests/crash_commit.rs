//! The kill loop: `ocfl commit` (v1, then v2 with files changed, added and removed, then v3
//! by `commit --add/--remove`, then v4 by `revert` to v1), then `ocfl rollback` to v3 and
//! `ocfl upgrade` (v4 again, OCFL 1.1, v3's state; the root starts as OCFL 1.0) killed
//! with SIGKILL at seeded random moments, checked after every kill, resumed, and checked
//! again at the end.
//!
//! After each kill the object must be absent (a new object not yet moved into place), valid
//! at its old version holding the old source, valid at its new version holding the new
//! source, or inside the window of `docs/durability.md` section 5 - and then exactly one of
//! its documented states (an upgrade's window has four, a rollback's two). The run is then
//! resumed (`ocfl resume` or the same `ocfl
//! commit`, chosen at random, sometimes killed again); at the end the object holds the
//! source byte for byte, `ocfl runs` shows exactly one completed run that wrote each
//! version (and no other run but the no-op reruns of commits killed after they completed),
//! and the storage root validates with our validator, rocfl and ocfl-py when installed.
//!
//! `cargo test` runs a few iterations on small generated trees.
//! `cargo xtask crash commit --iterations N` runs many on a seeded 'mixed' profile in
//! release, through the environment: `OCFL_CRASH_ITERATIONS`, `OCFL_CRASH_SEED`,
//! `OCFL_CRASH_V1` and `OCFL_CRASH_V2` (the two source trees).

mod commit_support;
mod crash_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use commit_support::*;
use crash_support::*;
use ocfl_core::inventory::parse_inventory;
use ocfl_core::layout::Layout;
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ValidationOptions, validate_object};

/// The codes our validator reports inside the window, by its two states.
const VERSION_MOVED: &[&str] = &["E023", "E040", "E046", "E064", "E066"];
const INVENTORY_INSTALLED: &[&str] = &["E060"];
/// What an upgrade adds: the moved version's 1.1 inventory is newer than the 1.0 root
/// inventory (E103); the 1.1 root inventory beside the 1.0 declaration (E038), then both
/// declarations (E003).
const UPGRADE_VERSION_MOVED: &[&str] = &["E040", "E046", "E064", "E066", "E103"];
const UPGRADE_INVENTORY_INSTALLED: &[&str] = &["E038", "E060"];
const UPGRADE_SIDECAR_INSTALLED: &[&str] = &["E038"];
const UPGRADE_BOTH_DECLARATIONS: &[&str] = &["E003", "E038"];
/// A rollback's window (docs/durability.md section 4b) over a later version without content:
/// the kept version's inventory beside the old sidecar, then the later version directory left.
const ROLLBACK_INVENTORY_INSTALLED: &[&str] = &["E040", "E046", "E060", "E064", "E066"];
const ROLLBACK_VERSIONS_LEFT: &[&str] = &["E040", "E046", "E064", "E066"];

/// The default trees: 150 small files and two of up to 1 MiB; v2 changes,
/// removes and adds about 5% of them.
fn generated(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let mut rng = Rng::new(seed);
    let v1 = dir.join("source-v1");
    many_files(&v1, 150, &mut rng);
    for i in 0..2 {
        let len = 256 * 1024 + rng.below(768 * 1024) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        fs::create_dir_all(v1.join("media")).expect("mkdir");
        fs::write(v1.join(format!("media/m{i}.bin")), bytes).expect("write");
    }
    let v2 = dir.join("source-v2");
    for (path, bytes) in read_tree(&v1) {
        let to = v2.join(&path);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        match rng.below(20) {
            0 => {}
            1 => fs::write(to, format!("changed {path}\n")).expect("change"),
            2 => {
                fs::write(&to, bytes).expect("copy");
                fs::write(to.with_extension("added"), format!("added {path}\n")).expect("add");
            }
            _ => fs::write(to, bytes).expect("copy"),
        }
    }
    (v1, v2)
}

/// The windows of `docs/durability.md` sections 4-5 (and 4b for a rollback) a kill may leave
/// the object in, reported as [`Object::Window`] by their names.
#[derive(Debug)]
enum Window {
    /// The new version directory is in the object, the root inventory is still the old one.
    VersionMoved,
    /// The new root inventory beside the old sidecar.
    InventoryInstalled,
    /// An upgrade's window: the new root inventory and sidecar, the old declaration.
    SidecarInstalled,
    /// An upgrade's window: both declarations.
    BothDeclarations,
    /// A rollback's window: the kept version's inventory beside the old sidecar.
    RollbackInventoryInstalled,
    /// A rollback's window: the kept version's inventory and sidecar, a later version left.
    RollbackVersionsLeft,
}

impl Window {
    fn object(self) -> Object {
        Object::Window(format!("{self:?}"))
    }
}

/// The logical path v3 adds.
const ADDED: &str = "edited/added.bin";

/// The file v3 adds, the logical path it removes, and the tree v3 holds: `v2`'s without
/// that path, with the added file.
fn edited(dir: &Path, v2: &Path) -> (PathBuf, String, PathBuf) {
    let added = dir.join("added.bin");
    let mut rng = Rng::new(0x6164_6465);
    let bytes: Vec<u8> = (0..256 * 1024).map(|_| rng.next() as u8).collect();
    fs::write(&added, &bytes).expect("write the added file");
    let mut tree = read_tree(v2);
    let removed = tree.keys().next().expect("v2 has files").clone();
    tree.remove(&removed);
    tree.insert(ADDED.to_owned(), bytes);
    let v3 = dir.join("v3-expected");
    let files: Vec<(&str, &[u8])> = tree
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    write_tree(&v3, &files);
    (added, removed, v3)
}

fn object_path(root: &Path, id: &str) -> String {
    Layout::read_from_root(&LocalStorage::new(root))
        .expect("layout")
        .expect("a layout")
        .map_object_id(id)
        .expect("mapped")
}

/// The object's state, checked: every state but the absent object, a valid version and the
/// windows of [`Window`] fails the test.
fn inspect(
    root: &Path,
    id: &str,
    version: &str,
    sources: &BTreeMap<String, &Path>,
    what: &str,
) -> Object {
    let path = object_path(root, id);
    let dir = root.join(&path);
    if !dir.exists() {
        return Object::Absent;
    }
    let storage = LocalStorage::new(root);
    let report = validate_object(&storage, &path, &ValidationOptions::default());
    let read = |file: &str| fs::read(dir.join(file)).ok();
    if report.is_valid() {
        let bytes = read("inventory.json").expect("inventory");
        let inventory = parse_inventory(&bytes).inventory.expect("parsed");
        let head = inventory.head.to_string();
        let source = sources
            .get(&head)
            .unwrap_or_else(|| panic!("{what}: unexpected head {head}"));
        assert_holds(&dir, &bytes, source, what);
        return Object::At(head);
    }
    let codes: BTreeSet<&str> = report.errors.iter().map(|e| e.code.as_str()).collect();
    // Both window states keep the old sidecar, which names the old inventory: the previous
    // version's.
    let number: u32 = version[1..].parse().expect("a version number");
    let old_inventory = read(&format!("v{}/inventory.json", number - 1));
    let new_inventory = read(&format!("{version}/inventory.json"));
    assert!(
        new_inventory.is_some() && old_inventory.is_some(),
        "{what}: invalid outside the window: {:?}",
        report.errors
    );
    let sidecar = read("inventory.json.sha512").expect("sidecar");
    let sidecar_of = |inventory: &[u8]| {
        format!(
            "{} inventory.json\n",
            ocfl_core::digest::DigestAlgorithm::Sha512.digest_bytes(inventory)
        )
        .into_bytes()
    };
    let root_inventory = read("inventory.json");
    let upgrade = dir.join("0=ocfl_object_1.1").exists() || {
        let new = new_inventory.as_deref().expect("new");
        String::from_utf8_lossy(new).contains("https://ocfl.io/1.1/spec/#inventory")
            && !String::from_utf8_lossy(old_inventory.as_deref().expect("old"))
                .contains("https://ocfl.io/1.1/spec/#inventory")
    };
    if upgrade
        && root_inventory == new_inventory
        && sidecar == sidecar_of(new_inventory.as_deref().expect("new"))
    {
        let (state, expected) = if dir.join("0=ocfl_object_1.1").exists() {
            (Window::BothDeclarations, UPGRADE_BOTH_DECLARATIONS)
        } else {
            (Window::SidecarInstalled, UPGRADE_SIDECAR_INSTALLED)
        };
        assert_eq!(
            codes,
            expected.iter().copied().collect(),
            "{what}: {state:?}: {:?}",
            report.errors
        );
        return state.object();
    }
    assert_eq!(
        sidecar,
        sidecar_of(old_inventory.as_deref().expect("old")),
        "{what}: the window keeps the old sidecar"
    );
    // A version that brings no content (a revert) has no content directory to miss (E023).
    let without_content: Vec<&str> = VERSION_MOVED
        .iter()
        .copied()
        .filter(|&c| c != "E023")
        .collect();
    let version_moved = if dir.join(version).join("content").exists() {
        VERSION_MOVED
    } else {
        &without_content
    };
    let (state, expected) = if root_inventory == old_inventory && upgrade {
        (Window::VersionMoved, UPGRADE_VERSION_MOVED)
    } else if root_inventory == old_inventory {
        (Window::VersionMoved, version_moved)
    } else if root_inventory == new_inventory && upgrade {
        (Window::InventoryInstalled, UPGRADE_INVENTORY_INSTALLED)
    } else if root_inventory == new_inventory {
        (Window::InventoryInstalled, INVENTORY_INSTALLED)
    } else {
        panic!("{what}: the root inventory is neither the old version's nor {version}'s");
    };
    assert_eq!(
        codes,
        expected.iter().copied().collect(),
        "{what}: {state:?}: {:?}",
        report.errors
    );
    state.object()
}

/// Where a kill of `ocfl rollback ID KEPT` left the object: valid at its old head or at
/// `kept` (holding that version's source), or inside the rollback's window with exactly its
/// codes.
fn inspect_rollback(
    root: &Path,
    id: &str,
    kept: &str,
    sources: &BTreeMap<String, &Path>,
    what: &str,
) -> Object {
    let path = object_path(root, id);
    let dir = root.join(&path);
    let storage = LocalStorage::new(root);
    let report = validate_object(&storage, &path, &ValidationOptions::default());
    let read = |file: &str| fs::read(dir.join(file)).ok();
    if report.is_valid() {
        let bytes = read("inventory.json").expect("inventory");
        let inventory = parse_inventory(&bytes).inventory.expect("parsed");
        let head = inventory.head.to_string();
        let source = sources
            .get(&head)
            .unwrap_or_else(|| panic!("{what}: unexpected head {head}"));
        assert_holds(&dir, &bytes, source, what);
        return Object::At(head);
    }
    let codes: BTreeSet<&str> = report.errors.iter().map(|e| e.code.as_str()).collect();
    assert!(
        read("inventory.json") == read(&format!("{kept}/inventory.json")),
        "{what}: invalid outside the window: {:?}",
        report.errors
    );
    let (state, expected) =
        if read("inventory.json.sha512") == read(&format!("{kept}/inventory.json.sha512")) {
            (Window::RollbackVersionsLeft, ROLLBACK_VERSIONS_LEFT)
        } else {
            (
                Window::RollbackInventoryInstalled,
                ROLLBACK_INVENTORY_INSTALLED,
            )
        };
    assert_eq!(
        codes,
        expected.iter().copied().collect(),
        "{what}: {state:?}: {:?}",
        report.errors
    );
    state.object()
}

/// The head version of the object at `dir` (inventory `inventory`) holds exactly the files
/// of `source`, byte for byte.
fn assert_holds(dir: &Path, inventory: &[u8], source: &Path, what: &str) {
    let inventory = parse_inventory(inventory).inventory.expect("parsed");
    let state = &inventory.versions[&inventory.head].state;
    let mut held = BTreeMap::new();
    for (digest, logicals) in state {
        let content = &inventory.manifest[digest][0];
        let bytes = fs::read(dir.join(content.as_str())).expect("content");
        for logical in logicals {
            held.insert(logical.as_str().to_owned(), bytes.clone());
        }
    }
    let expected = read_tree(source);
    assert_eq!(
        held.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: logical paths"
    );
    assert!(held == expected, "{what}: bytes differ from the source's");
}

/// The steps of an iteration: commits of v1 and v2, the file-level commit (v3), the revert
/// (v4), the rollback to v3 and the upgrade (v4 again).
const STEPS: usize = 6;
const ROLLBACK_STEP: usize = 4;
const UPGRADE_STEP: usize = 5;

/// `ocfl` on a local root.
impl Target for Root {
    fn command(&self, args: &[&str]) -> Command {
        Root::command(self, args)
    }

    fn inspect(
        &self,
        id: &str,
        version: &str,
        sources: &BTreeMap<String, &Path>,
        what: &str,
    ) -> Object {
        inspect(&self.path(), id, version, sources, what)
    }
}

/// Runs `ocfl rollback ID KEPT --yes`, killing it up to [`MAX_KILLS`] times, checking the
/// object after each kill, then runs it to the end.
fn rollback(run: &mut Loop<'_, Root>, id: &str, kept: &str, sources: &BTreeMap<String, &Path>) {
    let args = ["rollback", id, kept, "--yes", "--json"];
    for attempt in 0..MAX_KILLS {
        if attempt > 0 && draw(&mut run.rng, 3) == 0 {
            break;
        }
        let delay = run.spans[ROLLBACK_STEP].mul_f64(draw(&mut run.rng, 1100) as f64 / 1000.0);
        let exited = kill_after(run.root, &args, delay);
        run.stats.kills += 1;
        run.stats.exited_first += u64::from(exited);
        let what = format!(
            "{id}: after a kill at {delay:?} of `ocfl {}`",
            args.join(" ")
        );
        let object = inspect_rollback(&run.root.path(), id, kept, sources, &what);
        *run.stats
            .landings
            .entry(Landing {
                version: format!("rollback to {kept}"),
                run: "-".into(),
                object,
            })
            .or_default() += 1;
    }
    let line = json_lines(ok(&run.root.ocfl(&args))).remove(0);
    assert_eq!(line["version"], kept, "{line}");
    let what = format!("{id}: after the rollback ran to the end");
    assert_eq!(
        inspect_rollback(&run.root.path(), id, kept, sources, &what),
        Object::At(kept.into()),
        "{what}"
    );
}

/// A storage root declaring OCFL 1.0 (so that `upgrade` has work), below `parent`.
fn root_1_0(parent: &Path) -> Root {
    let root = Root {
        dir: tempfile::tempdir_in(parent).expect("tempdir"),
    };
    ok(&root.ocfl(&["init", "--spec", "1.0"]));
    root
}

fn find_program(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Our validator on the whole root, then rocfl and ocfl-py (each object) when installed.
fn validate_with_peers(root: &Root) -> Vec<&'static str> {
    ok(&root.ocfl(&["validate"]));
    let mut used = vec!["ocfl validate"];
    if let Some(rocfl) = find_program("rocfl") {
        let output = Command::new(rocfl)
            .arg("-r")
            .arg(root.path())
            .arg("validate")
            .output()
            .expect("run rocfl");
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            output.status.success() && !text.contains("invalid"),
            "rocfl:\n{text}"
        );
        used.push("rocfl validate");
    }
    if let Some(py) = find_program("ocfl-validate.py") {
        for object in objects(&root.path()) {
            let output = Command::new(&py)
                .arg(&object)
                .output()
                .expect("run ocfl-validate.py");
            let text = format!("{}{}", stdout(&output), stderr(&output));
            assert!(
                output.status.success() && text.contains("is VALID"),
                "ocfl-validate.py {}:\n{text}",
                object.display()
            );
        }
        used.push("ocfl-validate.py");
    }
    used
}

/// The object roots below a storage root.
fn objects(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("0=ocfl_object_"))
        })
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect()
}

#[test]
fn commits_killed_at_random_moments_are_valid_after_every_kill_and_end_as_the_source() {
    let iterations = env_u64("OCFL_CRASH_ITERATIONS", 3);
    let seed = env_u64("OCFL_CRASH_SEED", 0);
    let scratch = scratch();
    let (v1, v2) = match (
        std::env::var_os("OCFL_CRASH_V1"),
        std::env::var_os("OCFL_CRASH_V2"),
    ) {
        (Some(v1), Some(v2)) => (PathBuf::from(v1), PathBuf::from(v2)),
        _ => generated(scratch.path(), seed),
    };
    // v3: v2 changed file by file (one file added, one removed); v4: v1's state again.
    let (added, removed, v3) = edited(scratch.path(), &v2);
    let sources: BTreeMap<String, &Path> = [
        ("v1".to_owned(), v1.as_path()),
        ("v2".to_owned(), v2.as_path()),
        ("v3".to_owned(), v3.as_path()),
        ("v4".to_owned(), v1.as_path()),
    ]
    .into();
    // After the rollback to v3, the upgrade's v4 holds v3's state.
    let upgraded: BTreeMap<String, &Path> = [
        ("v3".to_owned(), v3.as_path()),
        ("v4".to_owned(), v3.as_path()),
    ]
    .into();
    let upgrade = |id: &str| -> Vec<String> { vec!["upgrade".into(), id.into()] };
    let commands = |id: &str| -> [Vec<String>; 4] {
        let text = |p: &Path| p.to_str().expect("utf-8").to_owned();
        [
            vec!["commit".into(), id.into(), text(&v1)],
            vec!["commit".into(), id.into(), text(&v2)],
            vec![
                "commit".into(),
                id.into(),
                "--add".into(),
                text(&added),
                ADDED.into(),
                "--remove".into(),
                removed.clone(),
            ],
            vec!["revert".into(), id.into(), "v1".into()],
        ]
    };

    // Uninterrupted runs of each version (the shorter of two): the span the kills are
    // spread over.
    let mut spans = vec![Duration::MAX; STEPS];
    for _ in 0..2 {
        let calibration = root_1_0(scratch.path());
        let id = "info:calibration";
        let mut steps: Vec<(String, Vec<String>)> = commands(id)
            .into_iter()
            .enumerate()
            .map(|(i, command)| (format!("v{}", i + 1), command))
            .collect();
        steps.push((
            "v3".into(),
            vec!["rollback".into(), id.into(), "v3".into(), "--yes".into()],
        ));
        steps.push(("v4".into(), upgrade(id)));
        for (i, (version, command)) in steps.iter().enumerate() {
            let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
            args.extend(["--json"]);
            if i != ROLLBACK_STEP {
                args.extend(["--message", version]);
            }
            let started = Instant::now();
            let output = calibration.ocfl(&args);
            spans[i] = spans[i].min(started.elapsed());
            let line = json_lines(ok(&output))
                .into_iter()
                .find(|line| line["id"] == id)
                .expect("the object's line");
            assert_eq!(line["version"], version.as_str());
        }
    }
    eprintln!(
        "crash commit: {iterations} iterations from seed {seed}; uninterrupted v1 {:?}, v2 {:?}, v3 (file-level) {:?}, v4 (revert) {:?}, rollback to v3 {:?}, upgrade (v4) {:?}",
        spans[0], spans[1], spans[2], spans[3], spans[4], spans[5]
    );

    let mut stats = Stats::default();
    let mut peers = Vec::new();
    let started = Instant::now();
    for i in 0..iterations {
        let root = root_1_0(scratch.path());
        let id = format!("info:crash/{}", seed + i);
        let mut run = Loop {
            root: &root,
            rng: Rng::new((seed.wrapping_add(i) ^ 0x6b69_6c6c).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            spans: spans.clone(),
            stats: &mut stats,
            earlier: BTreeSet::new(),
        };
        let mut no_ops = 0;
        for (i, command) in commands(&id).iter().enumerate() {
            let version = format!("v{}", i + 1);
            no_ops += run.commit(&id, &version, &version, command, &sources, i);
        }
        let written = [("v1", 1), ("v2", 1), ("v3", 1), ("v4", 1)];
        check_runs(&root, no_ops, &written);
        run.earlier = run_ids(&root);
        rollback(&mut run, &id, "v3", &sources);
        no_ops += run.commit(
            &id,
            "v4",
            "v4 (upgrade)",
            &upgrade(&id),
            &upgraded,
            UPGRADE_STEP,
        );
        // A kill between the root's two declarations, then a finish by `ocfl resume`,
        // leaves the root's part to the same command again (which starts no run).
        let line = json_lines(ok(&root.ocfl(&["--json", "upgrade", &id])));
        assert_eq!(line[1]["changed"], false, "{line:?}");
        assert!(!root.path().join("0=ocfl_1.0").exists());
        check_runs(&root, no_ops, &[("v1", 1), ("v2", 1), ("v3", 1), ("v4", 2)]);
        if (i + 1) % 25 == 0 {
            eprintln!(
                "crash commit: {} iterations, {} kills, {:?}",
                i + 1,
                stats.kills,
                started.elapsed()
            );
        }
        // The peers are slow to start: every 50th iteration and the last.
        if i % 50 == 0 || i + 1 == iterations {
            peers = validate_with_peers(&root);
        } else {
            ok(&root.ocfl(&["validate"]));
        }
    }
    eprintln!(
        "crash commit: {iterations} iterations in {:?}: {} kills ({} of a process that had already exited); validated with {}",
        started.elapsed(),
        stats.kills,
        stats.exited_first,
        peers.join(", ")
    );
    stats.report();
}
