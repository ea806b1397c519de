//! Validating one object on the local filesystem: 2,000 content files of 1-4 KiB in nested
//! directories with an md5 fixity block, with and without recomputing digests.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::inventory::{Inventory, Manifest, State, Version};
use ocfl_core::namaste::Declaration;
use ocfl_core::path::{ContentPath, LogicalPath};
use ocfl_core::sidecar::{sidecar_contents, sidecar_name};
use ocfl_core::storage::{LocalStorage, Storage};
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;

const FILES: usize = 2_000;

/// Writes a one-version object with `FILES` files into `storage` at `obj`.
fn write_object(storage: &LocalStorage, obj: &str) {
    let mut manifest = Manifest::new();
    let mut state = State::new();
    let mut md5: BTreeMap<String, Vec<ContentPath>> = BTreeMap::new();
    for i in 0..FILES {
        let logical = format!("data/d{}/e{}/file-{i}.bin", i % 20, (i / 20) % 10);
        let size = 1024 + (i * 37) % 3072;
        let bytes: Vec<u8> = (0..size).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
        let content = format!("v1/content/{logical}");
        let full = format!("{obj}/{content}");
        let parent = full.rsplit_once('/').map_or("", |(p, _)| p);
        storage.create_dir(parent).expect("mkdir");
        std::fs::write(storage.root().join(&full), &bytes).expect("write content");
        let digest = DigestAlgorithm::Sha512.digest_bytes(&bytes);
        let content = ContentPath::new(content).expect("valid");
        md5.entry(DigestAlgorithm::Md5.digest_bytes(&bytes).to_string())
            .or_default()
            .push(content.clone());
        manifest.entry(digest.clone()).or_default().push(content);
        state
            .entry(digest)
            .or_default()
            .push(LogicalPath::new(logical).expect("valid"));
    }
    let inventory = Inventory {
        id: "urn:example:bench".to_owned(),
        spec_version: SpecVersion::V1_1,
        digest_algorithm: DigestAlgorithm::Sha512,
        head: VersionNum::V1,
        content_directory: None,
        manifest,
        versions: BTreeMap::from([(
            VersionNum::V1,
            Version {
                created: "2024-01-01T10:00:00Z".to_owned(),
                state,
                message: Some("bench".to_owned()),
                user: Some(ocfl_core::inventory::User {
                    name: "Bench".to_owned(),
                    address: Some("mailto:bench@example.org".to_owned()),
                }),
            },
        )]),
        fixity: Some(BTreeMap::from([("md5".to_owned(), md5)])),
    };
    let bytes = inventory.to_json_bytes();
    let sidecar = sidecar_contents(&DigestAlgorithm::Sha512.digest_bytes(&bytes));
    let declaration = Declaration::object(SpecVersion::V1_1);
    storage
        .write_atomic(
            &format!("{obj}/{}", declaration.file_name()),
            declaration.contents().as_bytes(),
        )
        .expect("declaration");
    for dir in [obj.to_owned(), format!("{obj}/v1")] {
        storage
            .write_atomic(&format!("{dir}/inventory.json"), &bytes)
            .expect("inventory");
        storage
            .write_atomic(
                &format!("{dir}/{}", sidecar_name(DigestAlgorithm::Sha512)),
                sidecar.as_bytes(),
            )
            .expect("sidecar");
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::new(dir.path());
    write_object(&storage, "obj");
    let with_fixity = ValidationOptions::default();
    assert!(
        validate_object(&storage, "obj", &with_fixity).is_valid(),
        "bench object must be valid"
    );

    let mut group = c.benchmark_group("validate_object_2000_files");
    group.sample_size(20);
    group.bench_function("with_fixity", |b| {
        b.iter(|| black_box(validate_object(&storage, "obj", &with_fixity)))
    });
    let without = ValidationOptions {
        check_fixity: false,
    };
    group.bench_function("structure_only", |b| {
        b.iter(|| black_box(validate_object(&storage, "obj", &without)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
