//! Parsing and serializing a large inventory: 20,000 files in nested directories over three
//! versions (the second changes 5% of the files, the third adds 5% more).

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::inventory::{Inventory, Manifest, State, User, Version, parse_inventory};
use ocfl_core::path::{ContentPath, LogicalPath};
use ocfl_core::version_num::VersionNum;

const FILES: u32 = 20_000;

fn logical_path(i: u32) -> String {
    format!("data/d{:02}/s{:02}/file-{i:05}.bin", i % 50, (i / 50) % 20)
}

/// Adds `files` (logical path index -> content number) as a version whose new content is
/// stored under that version's directory.
fn add_version(inventory: &mut Inventory, num: VersionNum, files: &BTreeMap<u32, u32>) {
    let mut state = State::new();
    for (&path, &content) in files {
        let digest = DigestAlgorithm::Sha512.digest_bytes(&content.to_le_bytes());
        let logical = logical_path(path);
        inventory.manifest.entry(digest.clone()).or_insert_with(|| {
            let stored = ContentPath::new(format!("{num}/content/{logical}"));
            stored.into_iter().collect()
        });
        state
            .entry(digest)
            .or_default()
            .extend(LogicalPath::new(logical));
    }
    inventory.versions.insert(
        num,
        Version {
            created: format!("2024-01-0{}T10:00:00Z", num.number()),
            state,
            message: Some(format!("version {num}")),
            user: Some(User {
                name: "Bench".to_owned(),
                address: Some("mailto:bench@example.org".to_owned()),
            }),
        },
    );
    inventory.head = num;
}

fn generate() -> Inventory {
    let mut inventory = Inventory {
        id: "urn:example:bench".to_owned(),
        spec_version: SpecVersion::V1_1,
        digest_algorithm: DigestAlgorithm::Sha512,
        head: VersionNum::V1,
        content_directory: None,
        manifest: Manifest::new(),
        versions: BTreeMap::new(),
        fixity: None,
    };
    let mut files: BTreeMap<u32, u32> = (0..FILES).map(|i| (i, i)).collect();
    let mut num = VersionNum::V1;
    add_version(&mut inventory, num, &files);
    for i in (0..FILES).step_by(20) {
        files.insert(i, FILES + i);
    }
    num = num.next().unwrap_or(num);
    add_version(&mut inventory, num, &files);
    for i in FILES..FILES + FILES / 20 {
        files.insert(i, 3 * FILES + i);
    }
    num = num.next().unwrap_or(num);
    add_version(&mut inventory, num, &files);
    inventory
}

fn bench(c: &mut Criterion) {
    let inventory = generate();
    let bytes = inventory.to_json_bytes();
    let parsed = parse_inventory(&bytes);
    assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
    assert_eq!(parsed.inventory.as_ref(), Some(&inventory));

    let mut group = c.benchmark_group("inventory_20k_files");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("parse", |b| b.iter(|| parse_inventory(black_box(&bytes))));
    group.bench_function("serialize", |b| {
        b.iter(|| black_box(&inventory).to_json_bytes())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
