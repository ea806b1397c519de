//! The kill loop on a storage root in a bucket: `ocfl commit` of a new object (v1) and of an
//! update (v2, files changed, added and removed) killed with SIGKILL at seeded random
//! moments, then finished by `ocfl resume` or the same `ocfl commit` (chosen at random,
//! sometimes killed again).
//!
//! After every kill, no root inventory anywhere below the root names content that is not in
//! the bucket (`docs/durability.md`, section 11.5), and the object is absent, valid at its old
//! version holding the old source, valid at its new version holding the new source, or inside
//! the window of section 11.4 (its root inventory then the old version's or the new one's,
//! byte for byte). At the end the object is valid and holds the source byte for byte, every
//! run completed, and one run wrote each version.
//!
//! Every `ocfl` runs with the smallest upload memory (`OCFL_S3_UPLOAD_MEMORY_MIB=1` unless the
//! environment sets it), so that a file larger than [`WHOLE`] goes in a multipart upload of
//! several parts; the uninterrupted commits check that one of each version's files did. After
//! every kill the multipart uploads open below the root are listed (ListMultipartUploads,
//! unsigned: moto answers it; `None`, "not measured", where the server refuses): the ones the
//! kill left open count it as a kill inside a multipart upload. A process that was not killed
//! must leave none (the store aborts what it abandons, `docs/durability.md` 11.1.7); at the
//! end of each iteration the uploads still open are exactly those the kills left, and are
//! aborted, as the bucket's lifecycle rule would.
//!
//! `cargo test` runs a couple of iterations on small trees (a file of three parts among them)
//! against a new bucket on `OCFL_TEST_S3_ENDPOINT` (skipped without it; failing under
//! `OCFL_TEST_REQUIRE_SERVICES=1`).
//! `cargo xtask crash commit --root s3://BUCKET/PREFIX --iterations N` runs many against an
//! existing bucket (the endpoint and credentials from `AWS_ENDPOINT_URL` or
//! `OCFL_TEST_S3_ENDPOINT` and the usual `AWS_*` variables), through the environment:
//! `OCFL_CRASH_ROOT`, `OCFL_CRASH_ITERATIONS`, `OCFL_CRASH_SEED`, `OCFL_CRASH_V1` and
//! `OCFL_CRASH_V2`.

mod commit_support;
#[allow(dead_code)] // shared with `crash_commit`; not every helper is used here
mod crash_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use commit_support::*;
use crash_support::{Loop, Object, Stats, Target, check_runs, env_u64};
use ocfl_core::inventory::parse_inventory;
use ocfl_core::layout::Layout;
use ocfl_core::location::{Location, S3Location};
use ocfl_core::storage::{EntryKind, Storage};
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_object_store::{ObjectStorage, S3Builder, UPLOAD_MEMORY_VAR};

/// The codes our validator may report inside the window of section 11.4: a version the root
/// inventory does not name yet (E046, and what follows from reading it as the latest: E023,
/// E040, E064, E066), content it names that has not arrived (E092), a new object's keys
/// before its declaration (E003) or before its inventory (E034, E063), an inventory before its
/// sidecar's PUT (E058: the claim `vN/inventory.json`, or a new object's first root
/// inventory), and the new root inventory beside the old sidecar (E060).
const WINDOW: &[&str] = &[
    "E003", "E023", "E034", "E040", "E046", "E058", "E060", "E063", "E064", "E066", "E092",
];

/// The largest key the store sends in one PUT with the smallest upload memory: its floor is
/// two parts of 8 MiB and 1 MiB for each of the 16 requests in flight, and a key held whole
/// leaves the latter free (`crates/ocfl-object-store/src/budget.rs`).
const WHOLE: usize = 16 << 20;

/// The generated trees' large file: larger than [`WHOLE`], so a multipart upload of three
/// parts (8, 8 and 4 MiB).
const LARGE: usize = WHOLE + (4 << 20);

/// The server and the bucket prefix the iterations' roots go below.
struct Server {
    endpoint: String,
    bucket: String,
    prefix: String,
}

impl Server {
    /// `OCFL_CRASH_ROOT` (an existing bucket), or a new bucket on the test server.
    fn find() -> Option<Server> {
        if let Ok(root) = std::env::var("OCFL_CRASH_ROOT") {
            let Ok(Location::S3(location)) = Location::parse_str(&root) else {
                panic!("OCFL_CRASH_ROOT={root}: not an s3:// URL");
            };
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .or_else(|_| std::env::var("OCFL_TEST_S3_ENDPOINT"))
                .expect("AWS_ENDPOINT_URL or OCFL_TEST_S3_ENDPOINT for OCFL_CRASH_ROOT");
            return Some(Server {
                endpoint,
                bucket: location.bucket().to_owned(),
                prefix: location.prefix().to_owned(),
            });
        }
        let Some(endpoint) = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3") else {
            eprintln!("crash_commit_s3: skipped");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let bucket = format!("ocfl-crash-{}-{nanos}", std::process::id());
        let created = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .expect("create the test bucket");
        assert!(created.status().is_success(), "{}", created.status());
        Some(Server {
            endpoint,
            bucket,
            prefix: "crash".into(),
        })
    }

    fn credential(name: &str, test_value: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| test_value.to_owned())
    }

    fn storage(&self, prefix: &str) -> ObjectStorage {
        S3Builder::new(S3Location::new(&self.bucket, prefix).expect("location"))
            .endpoint(&self.endpoint)
            .credentials(
                Server::credential("AWS_ACCESS_KEY_ID", "ocfl-test"),
                Server::credential("AWS_SECRET_ACCESS_KEY", "ocfl-test-secret"),
                std::env::var("AWS_SESSION_TOKEN").ok(),
            )
            .build()
            .expect("store")
    }

    /// The multipart uploads open below `prefix/`, as `KEY UPLOAD-ID`; `None` if the server
    /// refuses an unsigned ListMultipartUploads (moto answers it; AWS does not).
    fn open_uploads(&self, prefix: &str) -> Option<BTreeSet<String>> {
        let url = format!(
            "{}/{}?uploads&prefix={}",
            self.endpoint,
            self.bucket,
            url_encode(&format!("{prefix}/"))
        );
        let response = reqwest::blocking::get(url).ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.text().ok()?;
        Some(
            body.split("<Upload>")
                .skip(1)
                .map(|upload| {
                    format!(
                        "{} {}",
                        xml_element(upload, "Key"),
                        xml_element(upload, "UploadId")
                    )
                })
                .collect(),
        )
    }

    /// Aborts an upload `open_uploads` listed (as a lifecycle rule would).
    fn abort_upload(&self, upload: &str) {
        let (key, id) = upload.rsplit_once(' ').expect("KEY UPLOAD-ID");
        let url = format!(
            "{}/{}/{}?uploadId={}",
            self.endpoint,
            self.bucket,
            url_encode(key),
            url_encode(id)
        );
        let response = reqwest::blocking::Client::new()
            .delete(url)
            .send()
            .expect("abort a multipart upload");
        assert!(
            response.status().is_success(),
            "abort {upload}: {}",
            response.status()
        );
    }
}

/// `text` percent-encoded for a URL's path or query, `/` kept.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first element `name` in `xml`, its entities replaced.
fn xml_element(xml: &str, name: &str) -> String {
    let start = xml
        .find(&format!("<{name}>"))
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + name.len()
        + 2;
    let end = start + xml[start..].find(&format!("</{name}>")).expect("closed");
    xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// One storage root of the loop: `s3://BUCKET/PREFIX/NAME`, with its engine store in a
/// state home of its own.
struct Root<'a> {
    server: &'a Server,
    /// The root's prefix in the bucket.
    prefix: String,
    url: String,
    storage: ObjectStorage,
    state_home: PathBuf,
}

impl Root<'_> {
    fn new<'a>(server: &'a Server, name: &str, scratch: &Path) -> Root<'a> {
        let prefix = format!("{}/{name}", server.prefix);
        let root = Root {
            server,
            prefix: prefix.clone(),
            url: format!("s3://{}/{prefix}", server.bucket),
            storage: server.storage(&prefix),
            state_home: scratch.join(format!("state-{name}")),
        };
        ok(&root.ocfl(&["init"]));
        root
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = ocfl_command();
        if std::env::var_os(UPLOAD_MEMORY_VAR).is_none() {
            // Raised to the store's floor: keys above `WHOLE` go in parts.
            command.env(UPLOAD_MEMORY_VAR, "1");
        }
        command
            .env("AWS_ENDPOINT_URL", &self.server.endpoint)
            .env(
                "AWS_ACCESS_KEY_ID",
                Server::credential("AWS_ACCESS_KEY_ID", "ocfl-test"),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                Server::credential("AWS_SECRET_ACCESS_KEY", "ocfl-test-secret"),
            )
            .env("AWS_REGION", Server::credential("AWS_REGION", "us-east-1"))
            .env("AWS_ALLOW_HTTP", "true")
            .env("XDG_STATE_HOME", &self.state_home)
            .arg("--root")
            .arg(&self.url)
            .args(args);
        command
    }

    fn ocfl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ocfl")
    }

    fn object_path(&self, id: &str) -> String {
        Layout::read_from_root(&self.storage)
            .expect("layout")
            .expect("a layout")
            .map_object_id(id)
            .expect("mapped")
    }

    /// Every key below the root (one listing of the whole prefix).
    fn keys(&self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = Storage::list(&self.storage, &dir) else {
                continue;
            };
            for entry in entries {
                let path = if dir.is_empty() {
                    entry.name
                } else {
                    format!("{dir}/{}", entry.name)
                };
                match entry.kind {
                    EntryKind::Directory => dirs.push(path),
                    _ => {
                        keys.insert(path);
                    }
                }
            }
        }
        keys
    }

    /// No root inventory below the root names content that is not a key of the bucket.
    fn assert_root_inventories_name_only_present_content(&self, what: &str) {
        let keys = self.keys();
        for key in &keys {
            let Some(object) = key.strip_suffix("/inventory.json") else {
                continue;
            };
            // A version's inventory (`OBJECT/vN/inventory.json`) is not a root inventory.
            let parent = object.rsplit('/').next().unwrap_or(object);
            if ocfl_core::version_num::VersionNum::parse(parent).is_ok() {
                continue;
            }
            let bytes = self.storage.read(key).expect("read a root inventory");
            let inventory = parse_inventory(&bytes)
                .inventory
                .unwrap_or_else(|| panic!("{what}: {key} does not parse"));
            for contents in inventory.manifest.values() {
                for content in contents {
                    let content_key = format!("{object}/{content}");
                    assert!(
                        keys.contains(&content_key),
                        "{what}: {key} names {content_key}, which is not in the bucket"
                    );
                }
            }
        }
    }
}

/// `ocfl` on a root in the bucket; after every kill, no root inventory below the root names
/// content that is missing.
impl Target for Root<'_> {
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
        self.assert_root_inventories_name_only_present_content(what);
        inspect(self, id, version, sources, what)
    }

    fn open_uploads(&self) -> Option<BTreeSet<String>> {
        self.server.open_uploads(&self.prefix)
    }
}

impl Root<'_> {
    /// How many parts each key below the root that went in a multipart upload has, by its
    /// entity tag (S3's, and moto's, is `"MD5-PARTS"` for those).
    fn multipart_keys(&self) -> BTreeMap<String, u32> {
        self.keys()
            .into_iter()
            .filter_map(|key| {
                let e_tag = self.storage.head(&key).expect("head").e_tag?;
                let (_, parts) = e_tag.0.trim_matches('"').rsplit_once('-')?;
                Some((key, parts.parse().ok()?))
            })
            .collect()
    }
}

/// The object's state, checked against the module's promises.
fn inspect(
    root: &Root<'_>,
    id: &str,
    version: &str,
    sources: &BTreeMap<String, &Path>,
    what: &str,
) -> Object {
    let path = root.object_path(id);
    if root.storage.kind_if_exists(&path).expect("stat").is_none() {
        return Object::Absent;
    }
    let report = validate_object(&root.storage, &path, &ValidationOptions::default());
    let read = |file: &str| root.storage.read(&format!("{path}/{file}")).ok();
    if report.is_valid() {
        let bytes = read("inventory.json").expect("inventory");
        let inventory = parse_inventory(&bytes).inventory.expect("parsed");
        let head = inventory.head.to_string();
        let source = sources
            .get(&head)
            .unwrap_or_else(|| panic!("{what}: unexpected head {head}"));
        assert_holds(root, &path, &bytes, source, what);
        return Object::At(head);
    }
    let codes: BTreeSet<String> = report
        .errors
        .iter()
        .map(|e| e.code.as_str().to_owned())
        .collect();
    assert!(
        codes.iter().all(|c| WINDOW.contains(&c.as_str())),
        "{what}: invalid outside the window: {:?}",
        report.errors
    );
    // The root inventory, if any, is the old version's or the new one's, byte for byte.
    if let Some(root_inventory) = read("inventory.json") {
        let number: u32 = version[1..].parse().expect("a version number");
        let old = (number > 1)
            .then(|| read(&format!("v{}/inventory.json", number - 1)))
            .flatten();
        let new = read(&format!("{version}/inventory.json"));
        assert!(
            Some(&root_inventory) == old.as_ref() || Some(&root_inventory) == new.as_ref(),
            "{what}: the root inventory is neither the old version's nor {version}'s"
        );
    }
    Object::Window(codes.into_iter().collect::<Vec<_>>().join(" "))
}

/// The head version (inventory `inventory`) of the object at `path` holds exactly the files
/// of `source`, byte for byte.
fn assert_holds(root: &Root<'_>, path: &str, inventory: &[u8], source: &Path, what: &str) {
    let inventory = parse_inventory(inventory).inventory.expect("parsed");
    let state = &inventory.versions[&inventory.head].state;
    let mut held = BTreeMap::new();
    for (digest, logicals) in state {
        let content = &inventory.manifest[digest][0];
        let bytes = root
            .storage
            .read(&format!("{path}/{content}"))
            .expect("content");
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

/// `len` bytes from `rng`.
fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len.div_ceil(8))
        .flat_map(|_| rng.next().to_le_bytes())
        .collect();
    bytes.truncate(len);
    bytes
}

/// The default trees: 40 small files and one of [`LARGE`] bytes (so that kills land inside a
/// multipart upload); v2 changes, removes and adds some, and changes the large one.
fn generated(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let mut rng = Rng::new(seed);
    let v1 = dir.join("source-v1");
    many_files(&v1, 40, &mut rng);
    fs::create_dir_all(v1.join("media")).expect("mkdir");
    fs::write(v1.join("media/large.bin"), random_bytes(&mut rng, LARGE)).expect("write");
    let v2 = dir.join("source-v2");
    for (path, bytes) in read_tree(&v1) {
        let to = v2.join(&path);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        match rng.below(10) {
            0 => {}
            1 => fs::write(to, format!("changed {path}\n")).expect("change"),
            2 => {
                fs::write(&to, bytes).expect("copy");
                fs::write(to.with_extension("added"), format!("added {path}\n")).expect("add");
            }
            _ => fs::write(to, bytes).expect("copy"),
        }
    }
    fs::write(v2.join("media/large.bin"), random_bytes(&mut rng, LARGE)).expect("write");
    (v1, v2)
}

#[test]
fn commits_to_a_bucket_killed_at_random_moments_end_valid_and_never_name_missing_content() {
    let Some(server) = Server::find() else {
        return;
    };
    let iterations = env_u64("OCFL_CRASH_ITERATIONS", 2);
    let seed = env_u64("OCFL_CRASH_SEED", 0);
    let scratch = scratch();
    let (v1, v2) = match (
        std::env::var_os("OCFL_CRASH_V1"),
        std::env::var_os("OCFL_CRASH_V2"),
    ) {
        (Some(v1), Some(v2)) => (PathBuf::from(v1), PathBuf::from(v2)),
        _ => generated(scratch.path(), seed),
    };
    let sources: BTreeMap<String, &Path> = [
        ("v1".to_owned(), v1.as_path()),
        ("v2".to_owned(), v2.as_path()),
    ]
    .into();

    // One uninterrupted commit of each version: the span the kills are spread over.
    let run = format!("{}-{seed}", std::process::id());
    let calibration = Root::new(&server, &format!("calibration-{run}"), scratch.path());
    let mut spans = vec![Duration::ZERO; 2];
    for (i, source) in [&v1, &v2].iter().enumerate() {
        let started = Instant::now();
        ok(&calibration.ocfl(&[
            "commit",
            "info:calibration",
            source.to_str().expect("utf-8"),
        ]));
        spans[i] = started.elapsed();
    }
    // Kills can land inside a multipart upload: each version sent a key in several parts.
    let multipart = calibration.multipart_keys();
    for version in ["v1", "v2"] {
        assert!(
            multipart
                .iter()
                .any(|(key, parts)| key.contains(&format!("/{version}/content/")) && *parts > 1),
            "no file of {version} was uploaded in parts (one larger than {WHOLE} bytes is \
             needed, with {UPLOAD_MEMORY_VAR} unset): {multipart:?}"
        );
    }
    if let Some(open) = calibration.open_uploads() {
        assert!(
            open.is_empty(),
            "uninterrupted commits left uploads open: {open:?}"
        );
    }
    eprintln!(
        "crash commit on S3 ({}): {iterations} iterations from seed {seed}; uninterrupted v1 {:?}, v2 {:?}",
        server.endpoint, spans[0], spans[1]
    );

    let mut stats = Stats::default();
    let mut uploads_aborted = 0;
    let started = Instant::now();
    for i in 0..iterations {
        let iteration_started = Instant::now();
        let root = Root::new(&server, &format!("root-{run}-{i}"), scratch.path());
        let id = format!("info:crash/{}", seed + i);
        let mut run = Loop {
            root: &root,
            rng: Rng::new((seed.wrapping_add(i) ^ 0x6b69_6c6c).wrapping_mul(0x9E37_79B9)),
            spans: spans.clone(),
            stats: &mut stats,
            earlier: Default::default(),
        };
        let mut no_ops = 0;
        for (i, (version, source)) in [("v1", &v1), ("v2", &v2)].into_iter().enumerate() {
            let command = ["commit", &id, source.to_str().expect("utf-8")].map(String::from);
            no_ops += run.commit(&id, version, version, &command, &sources, i);
        }
        // Spans shortened for commits that finished before their kill carry on.
        spans = run.spans;
        check_runs(&root, no_ops, &[("v1", 1), ("v2", 1)]);
        ok(&root.ocfl(&["validate"]));
        // What remains of multipart uploads: only what kills left, which a lifecycle rule
        // aborts (here, the test).
        if let Some(open) = root.open_uploads() {
            let strays: Vec<_> = open.difference(&stats.left_by_kills).collect();
            assert!(
                strays.is_empty(),
                "uploads open, not left by a kill: {strays:?}"
            );
            for upload in &open {
                server.abort_upload(upload);
            }
            uploads_aborted += open.len();
        }
        // Checked: the last root is kept for other validators, the others deleted (a server
        // such as moto holds every key in memory).
        let name = &root.prefix[server.prefix.len() + 1..];
        if i + 1 < iterations {
            server
                .storage(&server.prefix)
                .delete_prefix(name)
                .expect("delete a checked root");
        } else {
            eprintln!("crash commit on S3: the last root is kept: {}", root.url);
        }
        eprintln!(
            "crash commit on S3: iteration {} in {:.1?}; so far {} kills, {} inside a multipart upload, {:.1?}",
            i + 1,
            iteration_started.elapsed(),
            stats.kills,
            stats.kills_in_multipart.unwrap_or(0),
            started.elapsed()
        );
    }
    eprintln!(
        "crash commit on S3: {iterations} iterations in {:?}: {} kills ({} of a process that had already exited)",
        started.elapsed(),
        stats.kills,
        stats.exited_first,
    );
    stats.report();
    if stats.kills_in_multipart.is_none() {
        eprintln!("kills inside a multipart upload: not measured (the server refused the listing)");
    }
    eprintln!(
        "multipart uploads open at the end of the iterations (left by kills, then aborted): {uploads_aborted}"
    );
}
