//! Plan construction for 100,000 files (target: under 1 s) and staging throughput of many
//! small files and of a few large ones. The comparison with `sha512sum` and the memory of
//! planning are measured by `cargo xtask bench stage` and `cargo xtask bench plan`
//! (docs/benchmarks.md).
// criterion's macros define public functions without documentation.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::path::LogicalPath;
use ocfl_plan::plan::{PlanOptions, plan};
use ocfl_plan::stage::{Stage, StageOptions, StagedFile};

/// A synthetic stage: `n` files in nested directories, one distinct digest per 4 files.
fn synthetic_stage(n: usize) -> Stage {
    let mut files = BTreeMap::new();
    for i in 0..n {
        let logical = format!("d{:02}/e{:03}/file-{i:06}.bin", i % 97, i % 451);
        let digest = DigestAlgorithm::Sha512.digest_bytes(&(i / 4).to_le_bytes());
        files.insert(
            LogicalPath::new(logical).expect("valid path"),
            StagedFile {
                source: PathBuf::from(format!("/src/{i}")),
                digest: Digest::new(digest.as_str()),
                size: 2048,
                fixity: Vec::new(),
            },
        );
    }
    Stage::from_parts(DigestAlgorithm::Sha512, Vec::new(), files).expect("stage")
}

fn plan_100k(c: &mut Criterion) {
    let stage = synthetic_stage(100_000);
    let options = PlanOptions::new("urn:bench:obj", "root/obj", "root.ocfl-work/run");
    let created = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("time");
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    group.bench_function("new object, 100000 files", |b| {
        b.iter(|| plan(None, black_box(&stage), &options, created).expect("plan"))
    });
    group.finish();
}

fn stage_small_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = 0u64;
    for i in 0..2000u32 {
        let path = dir.path().join(format!("d{}/f{i}", i % 20));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let size = 1024 + (i as usize % 3072);
        std::fs::write(&path, vec![(i % 251) as u8; size]).expect("write");
        bytes += size as u64;
    }
    let mut group = c.benchmark_group("stage");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("2000 files of 1-4 KiB", |b| {
        b.iter(|| Stage::from_directory(dir.path(), &StageOptions::default()).expect("stage"))
    });
    group.finish();
}

/// Four files of 16 MiB: hashing throughput with one file per thread and more.
fn stage_large_files(c: &mut Criterion) {
    const SIZE: usize = 16 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..4u8 {
        // Content does not change hashing speed; distinct files keep the digests distinct.
        let bytes: Vec<u8> = (0..SIZE).map(|n| (n as u8).wrapping_mul(31) ^ i).collect();
        std::fs::write(dir.path().join(format!("large-{i}.bin")), bytes).expect("write");
    }
    let mut group = c.benchmark_group("stage");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(4 * SIZE as u64));
    group.bench_function("4 files of 16 MiB", |b| {
        b.iter(|| Stage::from_directory(dir.path(), &StageOptions::default()).expect("stage"))
    });
    group.finish();
}

criterion_group!(benches, plan_100k, stage_small_files, stage_large_files);
criterion_main!(benches);
