//! The heap a new object's plan takes per file, counted by this binary's global allocator
//! (issue 19: the million-file v1 commit must peak at most 1.5 GiB, and the stage, the plan
//! and its inventory text are what it holds while its steps run).
//!
//! The counters see every thread's allocations; this binary has one test, so nothing else
//! allocates meanwhile.
//!
//! `cargo test -p ocfl-plan --test plan_heap -- --nocapture` prints the figures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use test_support::heap::{self, Counting};

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::path::LogicalPath;
use ocfl_plan::plan::{Outcome, Plan, PlanOptions, plan};
use ocfl_plan::stage::{Stage, StagedFile};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Files in the measured stage: the scale bench's layout, 100 to a directory.
const FILES: usize = 20_000;

/// The scale bench's source: `dNN/dNN/file-NNNNNN.dat` below an absolute directory, each file
/// its own content.
fn stage() -> Stage {
    let algorithm = DigestAlgorithm::Sha512;
    let mut files = BTreeMap::new();
    for n in 0..FILES {
        let directory = n / 100;
        let logical = format!(
            "d{:02}/d{:02}/file-{n:06}.dat",
            directory / 100,
            directory % 100
        );
        let file = StagedFile {
            source: PathBuf::from(format!("/work/scratch/bench-scale/v1/{logical}")),
            digest: algorithm.digest_bytes(&n.to_le_bytes()),
            size: 1024,
            fixity: Vec::new(),
        };
        files.insert(LogicalPath::new(logical).expect("a valid path"), file);
    }
    Stage::from_parts(algorithm, Vec::new(), files).expect("a stage")
}

fn options() -> PlanOptions {
    // As long as a durable run's: a layout's object path and a run's work directory.
    PlanOptions::new(
        "urn:example:a-million-files",
        "root/2f3/a91/c0e/2f3a91c0e5d84b6aa0ffb2d1c3e4f5a6",
        "root.ocfl-work/runs/0193f1c2-7a5e-7b3d-9c4e-2f1a0b9c8d7e",
    )
}

fn created() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-12-08T04:00:00Z").expect("a timestamp")
}

/// Bytes per file, rounded.
fn per_file(bytes: usize) -> usize {
    (bytes + FILES / 2) / FILES
}

#[test]
fn a_new_objects_plan_holds_little_per_file() {
    let base = heap::current();
    let stage = stage();
    let staged = heap::current() - base;

    let before = heap::start_peak();
    let Outcome::Update(mut plan) = plan(None, &stage, &options(), created()).expect("a plan")
    else {
        panic!("a new object is an update");
    };
    let planning_peak = heap::peak() - before;
    let kept = heap::current() - before;
    let text = plan.inventory.capacity();
    let steps = kept - text;

    let mut blob = Vec::new();
    plan.write_blob(&mut blob).expect("written");
    let before = heap::current();
    let decoded = Plan::read_blob(&blob[..]).expect("read back");
    let decoded_kept = heap::current() - before;
    assert_eq!(decoded, plan, "the blob reads back as the plan");

    let transient = planning_peak - kept;
    println!(
        "per file ({FILES} files): stage {}, planning peak above the stage {}, plan kept {} \
         (inventory text {}, steps and the rest {}), plan read back from its blob {}, \
         blob {}",
        per_file(staged),
        per_file(planning_peak),
        per_file(kept),
        per_file(text),
        per_file(steps),
        per_file(decoded_kept),
        per_file(blob.len()),
    );
    println!(
        "planning's peak above what the plan keeps: {} per file",
        per_file(transient)
    );
    // What planning holds beyond the plan it returns: the new inventory's tree while it is
    // serialized and the list of new content. That list borrows the stage's paths (16 bytes
    // a file); holding every content path, planning peaked 131 bytes a file above its plan.
    assert!(
        per_file(transient) <= 100,
        "planning peaked {} bytes per file above the plan it keeps",
        per_file(transient)
    );
}
