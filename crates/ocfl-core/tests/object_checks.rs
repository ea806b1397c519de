//! Object validation on objects built from fixtures by the tests: the cases the official
//! fixtures do not cover (sidecar names, several declarations, special files, registered
//! extensions) and the shape of the report (id, locations in messages).

mod object_support;

use std::fs;
use std::process::Command;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use object_support::{Access, Watched, codes, copy_fixture, validate_dir, validate_fixture};
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{Code, ValidationOptions, validate_object};

const ONE_FILE: &str = "1.1/good-objects/minimal_one_version_one_file";

#[test]
fn sidecar_named_for_another_algorithm_is_e059() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::rename(
        object.join("inventory.json.sha512"),
        object.join("inventory.json.sha256"),
    )
    .expect("rename");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E059].into(), "{report:#?}");
    assert!(
        report.errors[0]
            .message
            .starts_with("inventory.json.sha256")
    );
}

/// The fixture's inventory with a message of more than a mebibyte, large enough that its
/// sidecar digest is computed while it is parsed.
fn large_inventory(object: &std::path::Path) -> String {
    let inventory = fs::read_to_string(object.join("inventory.json")).expect("read");
    let message = "x".repeat(1536 * 1024);
    inventory.replace("An version with one file", &message)
}

#[test]
fn a_large_inventory_has_its_sidecar_checked() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    let inventory = large_inventory(&object);
    for dir in [object.clone(), object.join("v1")] {
        object_support::write_inventory(&dir, &inventory);
    }
    let report = validate_dir(&object);
    assert!(report.is_valid(), "{report:#?}");

    // A wrong digest in the root's sidecar.
    let wrong = "0".repeat(128);
    fs::write(
        object.join("inventory.json.sha512"),
        format!("{wrong} inventory.json\n"),
    )
    .expect("write");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E060].into(), "{report:#?}");
    assert!(
        report.errors[0]
            .message
            .starts_with("inventory.json.sha512")
    );

    // A sidecar named for sha256 holding the right sha256: the inventory says sha512.
    let sha256 = ocfl_core::digest::DigestAlgorithm::Sha256.digest_bytes(inventory.as_bytes());
    fs::remove_file(object.join("inventory.json.sha512")).expect("rm");
    fs::write(
        object.join("inventory.json.sha256"),
        format!("{sha256} inventory.json\n"),
    )
    .expect("write");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E059].into(), "{report:#?}");
}

/// A large object's content is read while its inventories are still being read and parsed,
/// so that both cores work from the start: the version inventory, read after the root's is
/// parsed, waits here until a content file has been opened, which only an early walk does.
#[test]
fn a_large_objects_content_is_read_while_its_inventories_are_parsed() {
    let (temp, object) = copy_fixture(ONE_FILE);
    let inventory = large_inventory(&object);
    for dir in [object.clone(), object.join("v1")] {
        object_support::write_inventory(&dir, &inventory);
    }
    // The read of `v1/inventory.json`, which validation makes only once the root inventory
    // is parsed, is held back until a content file has been opened (or 10 s pass).
    let (content_opened, opened) = (Mutex::new(false), Condvar::new());
    let content_first = Mutex::new(None);
    let storage = Watched {
        inner: LocalStorage::new(temp.path()),
        watch: |access, path: &str| {
            if access != Access::Open {
                return;
            }
            let mut content = content_opened.lock().expect("lock");
            if path.contains("/content/") {
                *content = true;
                opened.notify_all();
            } else if path.ends_with("v1/inventory.json") {
                let (content, _) = opened
                    .wait_timeout_while(content, Duration::from_secs(10), |content| !*content)
                    .expect("lock");
                *content_first.lock().expect("lock") = Some(*content);
            }
        },
    };
    // A pool of its own, so that a thread is free for the walk whatever else runs.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("thread pool");
    let report = pool.install(|| validate_object(&storage, "obj", &ValidationOptions::default()));
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(
        *content_first.lock().expect("lock"),
        Some(true),
        "the content was read before the version inventory"
    );
}

#[test]
fn missing_version_sidecar_is_e058_naming_the_version() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::remove_file(object.join("v1/inventory.json.sha512")).expect("rm");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E058].into(), "{report:#?}");
    assert!(report.errors[0].message.starts_with("v1/inventory.json"));
}

#[test]
fn extra_sidecar_in_a_version_directory_is_e015() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::write(object.join("v1/inventory.json.md5"), "x inventory.json\n").expect("write");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E015].into(), "{report:#?}");
}

#[test]
fn two_declarations_are_e003() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::write(object.join("0=ocfl_object_1.0"), "ocfl_object_1.0\n").expect("write");
    let report = validate_dir(&object);
    assert!(codes(&report).contains(&Code::E003), "{report:#?}");
}

#[test]
fn storage_root_declaration_in_an_object_is_e006() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::rename(object.join("0=ocfl_object_1.1"), object.join("0=ocfl_1.1")).expect("rename");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E006].into(), "{report:#?}");
}

#[test]
fn declaration_of_another_version_than_the_inventory_is_e038() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::remove_file(object.join("0=ocfl_object_1.1")).expect("rm");
    fs::write(object.join("0=ocfl_object_1.0"), "ocfl_object_1.0\n").expect("write");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E038].into(), "{report:#?}");
}

#[test]
fn special_file_in_content_is_reported_and_never_opened() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    let fifo = object.join("v1/content/pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    // Opening a FIFO for reading would block forever: finishing at all shows it was not.
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E089].into(), "{report:#?}");
}

#[test]
fn registered_extension_directories_are_fine_and_others_warn() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::create_dir_all(object.join("extensions/0008-schema-registry")).expect("mkdir");
    // `initial` is reserved by the extensions repository for objects too.
    fs::create_dir_all(object.join("extensions/initial")).expect("mkdir");
    fs::write(object.join("extensions/initial/config.json"), b"{}").expect("write");
    assert!(codes(&validate_dir(&object)).is_empty());
    fs::create_dir_all(object.join("extensions/0099-local")).expect("mkdir");
    let report = validate_dir(&object);
    assert!(report.is_valid());
    assert_eq!(codes(&report), [Code::W013].into(), "{report:#?}");
}

#[test]
fn a_mutable_head_directory_without_an_active_head_is_e067() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::create_dir_all(object.join("extensions/0005-mutable-head/head")).expect("mkdir");
    let report = validate_dir(&object);
    assert_eq!(codes(&report), [Code::E067].into(), "{report:#?}");
    assert!(
        report.errors[0].message.contains("must not exist"),
        "{report:#?}"
    );
}

#[test]
fn logs_directory_may_hold_anything() {
    let (_temp, object) = copy_fixture(ONE_FILE);
    fs::create_dir_all(object.join("logs/2024")).expect("mkdir");
    fs::write(object.join("logs/2024/audit.txt"), "ok").expect("write");
    assert!(codes(&validate_dir(&object)).is_empty());
    fs::remove_dir_all(object.join("logs")).expect("rm");
    fs::write(object.join("logs"), "not a directory").expect("write");
    assert_eq!(codes(&validate_dir(&object)), [Code::E001].into());
}

#[test]
fn a_path_that_is_not_an_object_is_invalid() {
    let temp = tempfile::tempdir().expect("tempdir");
    let report = validate_object(
        &LocalStorage::new(temp.path()),
        "missing",
        &ValidationOptions::default(),
    );
    assert!(!report.is_valid());
    assert_eq!(report.path, "missing");
    assert_eq!(report.id, None);
}

#[test]
fn skipping_fixity_misses_only_digest_mismatches() {
    let fixture = "1.1/bad-objects/E092_content_file_digest_mismatch";
    let dir = object_support::fixtures().join(fixture);
    let options = ValidationOptions {
        check_fixity: false,
    };
    let report = object_support::validate_dir_with(&dir, &options);
    assert!(report.is_valid(), "{report:#?}");
    assert!(!validate_fixture(fixture).is_valid());
}

#[test]
fn report_carries_the_id_and_every_message_names_a_location() {
    let report = validate_fixture("1.1/bad-objects/E092_content_file_digest_mismatch");
    assert_eq!(report.id.as_deref(), Some("urn:example-2"));
    let finding = &report.errors[0];
    assert_eq!(finding.code, Code::E092);
    assert!(
        finding.message.starts_with("v1/content/test.txt: "),
        "{finding}"
    );

    for fixture in [
        "1.1/bad-objects/E066_E092_old_manifest_digest_incorrect",
        "1.1/bad-objects/E019_inconsistent_content_dir",
        "1.1/bad-objects/E103_older_spec_v2",
        "1.1/bad-objects/E067_file_in_extensions_dir",
    ] {
        let report = validate_fixture(fixture);
        for f in report.errors.iter().chain(&report.warnings) {
            let location = f.message.split(':').next().unwrap_or_default();
            assert!(
                location.starts_with('v')
                    || location.starts_with("inventory.json")
                    || location.starts_with("extensions/")
                    || location.starts_with("0="),
                "{fixture}: {f}"
            );
        }
    }
}
