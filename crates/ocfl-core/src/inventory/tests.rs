//! Unit tests: one small defect per case, each run through [`check`], which compares the set
//! of codes reported with the set expected (so a check that fires too often fails as well).

use serde_json::{Value, json};

use super::parse_inventory;
use crate::validate::Code;

fn hex(c: char, len: usize) -> String {
    std::iter::repeat_n(c, len).collect()
}

/// sha512-shaped digests.
fn d(c: char) -> String {
    hex(c, 128)
}

/// A valid 1.1 inventory: two versions, two files, every recommended key.
fn base() -> Value {
    json!({
        "id": "urn:example:1",
        "type": "https://ocfl.io/1.1/spec/#inventory",
        "digestAlgorithm": "sha512",
        "head": "v2",
        "manifest": {
            d('a'): ["v1/content/a.txt"],
            d('b'): ["v2/content/dir/b.txt"]
        },
        "versions": {
            "v1": {
                "created": "2024-01-02T03:04:05Z",
                "state": { d('a'): ["a.txt"] },
                "message": "first",
                "user": { "name": "A", "address": "mailto:a@example.org" }
            },
            "v2": {
                "created": "2024-01-03T03:04:05.123+02:00",
                "state": { d('a'): ["a.txt"], d('b'): ["dir/b.txt"] },
                "message": "second",
                "user": { "name": "A", "address": "mailto:a@example.org" }
            }
        }
    })
}

fn base_1_0() -> Value {
    let mut inventory = base();
    inventory["type"] = json!("https://ocfl.io/1.0/spec/#inventory");
    inventory
}

fn codes_of(bytes: &[u8]) -> Vec<Code> {
    let mut codes: Vec<Code> = parse_inventory(bytes)
        .findings
        .iter()
        .map(|f| f.code)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// Asserts that parsing `inventory` reports exactly the distinct codes `expected`.
#[track_caller]
fn check(inventory: &Value, expected: &[Code]) {
    check_bytes(inventory.to_string().as_bytes(), expected);
}

#[track_caller]
fn check_bytes(bytes: &[u8], expected: &[Code]) {
    let mut expected = expected.to_vec();
    expected.sort();
    let parsed = parse_inventory(bytes);
    let codes = codes_of(bytes);
    assert_eq!(
        codes,
        expected,
        "findings: {:#?}\ninput: {}",
        parsed.findings,
        String::from_utf8_lossy(bytes)
    );
}

/// `base()` changed by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut inventory = base();
    edit(&mut inventory);
    inventory
}

fn remove(value: &mut Value, key: &str) {
    if let Value::Object(map) = value {
        map.remove(key);
    }
}

#[test]
fn valid_inventories_have_no_findings() {
    check(&base(), &[]);
    check(&base_1_0(), &[]);
    let parsed = parse_inventory(base().to_string().as_bytes());
    assert!(!parsed.has_errors());
    assert!(parse_inventory(b"{}").has_errors());
    let inventory = parsed.inventory.expect("valid inventory");
    assert_eq!(inventory.id, "urn:example:1");
    assert_eq!(inventory.head.to_string(), "v2");
    assert_eq!(inventory.versions.len(), 2);
    assert_eq!(inventory.manifest.len(), 2);
    assert_eq!(inventory.content_directory(), "content");
}

#[test]
fn e033_not_json() {
    check_bytes(b"\xff\xfe{}", &[Code::E033]);
    check_bytes(b"", &[Code::E033]);
    check_bytes(b"{\"id\": ", &[Code::E033]);
    check_bytes(b"[]", &[Code::E033]);
    check_bytes(b"null", &[Code::E033]);
    check_bytes(b"{} {}", &[Code::E033]);
    assert!(parse_inventory(b"[]").inventory.is_none());
}

#[test]
fn e033_byte_order_mark_is_reported_but_the_rest_is_read() {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(base().to_string().as_bytes());
    check_bytes(&bytes, &[Code::E033]);
    assert!(parse_inventory(&bytes).inventory.is_some());
}

#[test]
fn e033_duplicate_keys_at_any_level() {
    let text = base().to_string();
    // The first of two equal keys is the one used: here that makes head wrong (E040).
    let top = text.replacen("{\"", "{\"head\":\"v1\",\"", 1);
    check_bytes(top.as_bytes(), &[Code::E033, Code::E040]);
    let nested = text.replacen("\"name\":\"A\"", "\"name\":\"A\",\"name\":\"B\"", 1);
    check_bytes(nested.as_bytes(), &[Code::E033]);
    let findings = parse_inventory(nested.as_bytes()).findings;
    assert!(findings[0].message.contains("\"name\""), "{findings:?}");
    assert!(
        findings[0].message.contains("versions.v1.user"),
        "{findings:?}"
    );
}

#[test]
fn escaped_strings_and_keys_read_as_their_plain_forms() {
    // Unescaped strings are borrowed from the document, escaped ones decoded: both must
    // give the same inventory, and an escaped key must still collide with its plain twin.
    let plain = base().to_string();
    let escaped = plain
        .replacen("\"v1/content/a.txt\"", "\"v1/cont\\u0065nt/a.txt\"", 1)
        .replacen(
            &format!("\"{}\"", d('b')),
            &format!("\"\\u0062{}\"", &d('b')[1..]),
            1,
        )
        .replacen("\"message\"", "\"m\\u0065ssage\"", 1);
    assert_ne!(plain, escaped);
    check_bytes(escaped.as_bytes(), &[]);
    assert_eq!(
        parse_inventory(escaped.as_bytes()).inventory,
        parse_inventory(plain.as_bytes()).inventory
    );
    let twin = plain.replacen("\"head\"", "\"h\\u0065ad\":\"v1\",\"head\"", 1);
    check_bytes(twin.as_bytes(), &[Code::E033, Code::E040]);
}

#[test]
fn path_lists_hold_no_spare_capacity() {
    // A 100,000-file inventory holds 200,000 of these lists, nearly all of one path.
    let inventory = parse_inventory(base().to_string().as_bytes())
        .inventory
        .expect("valid inventory");
    for paths in inventory.manifest.values() {
        assert_eq!(paths.capacity(), paths.len());
    }
    for version in inventory.versions.values() {
        for paths in version.state.values() {
            assert_eq!(paths.capacity(), paths.len());
        }
    }
}

#[test]
fn e036_missing_required_keys() {
    for key in ["id", "type", "digestAlgorithm", "head"] {
        let inventory = edited(|i| remove(i, key));
        check(&inventory, &[Code::E036]);
        let findings = parse_inventory(inventory.to_string().as_bytes()).findings;
        assert!(findings[0].message.contains(key), "{findings:?}");
    }
    // Without head the highest version stands in, so validation can go on.
    let parsed = parse_inventory(edited(|i| remove(i, "head")).to_string().as_bytes());
    assert_eq!(
        parsed.inventory.map(|i| i.head.to_string()),
        Some("v2".to_owned())
    );
}

#[test]
fn id_type_and_uri() {
    check(&edited(|i| i["id"] = json!(5)), &[Code::E037]);
    check(&edited(|i| i["id"] = json!(null)), &[Code::E037]);
    check(&edited(|i| i["id"] = json!("")), &[Code::E037]);
    check(&edited(|i| i["id"] = json!("bb123")), &[Code::W005]);
}

#[test]
fn e038_type() {
    check(
        &edited(|i| i["type"] = json!("https://ocfl.io/1.2/spec/#inventory")),
        &[Code::E038],
    );
    check(&edited(|i| i["type"] = json!(["x"])), &[Code::E038]);
    let parsed = parse_inventory(base_1_0().to_string().as_bytes());
    assert_eq!(
        parsed.inventory.map(|i| i.spec_version),
        Some(crate::SpecVersion::V1_0)
    );
}

#[test]
fn e025_w004_digest_algorithm() {
    // md5 is known, so the inventory is kept, but every sha512-shaped digest is malformed.
    let md5 = edited(|i| i["digestAlgorithm"] = json!("md5"));
    check(&md5, &[Code::E025, Code::E092]);
    assert!(
        parse_inventory(md5.to_string().as_bytes())
            .inventory
            .is_some()
    );
    let unknown = edited(|i| i["digestAlgorithm"] = json!("sha3"));
    check(&unknown, &[Code::E025]);
    assert!(
        parse_inventory(unknown.to_string().as_bytes())
            .inventory
            .is_none()
    );
    check(
        &edited(|i| i["digestAlgorithm"] = json!(null)),
        &[Code::E025],
    );

    let sha256 = base()
        .to_string()
        .replace(&d('a'), &hex('a', 64))
        .replace(&d('b'), &hex('b', 64))
        .replace("sha512", "sha256");
    check_bytes(sha256.as_bytes(), &[Code::W004]);
    check(
        &edited(|i| i["digestAlgorithm"] = json!("sha256")),
        &[Code::W004, Code::E092],
    );
}

#[test]
fn e040_head() {
    check(&edited(|i| i["head"] = json!("v1")), &[Code::E040]);
    check(&edited(|i| i["head"] = json!("v3")), &[Code::E040]);
    check(&edited(|i| i["head"] = json!("v02")), &[Code::E040]);
    check(&edited(|i| i["head"] = json!("2")), &[Code::E040]);
    check(&edited(|i| i["head"] = json!({"a": 1})), &[Code::E040]);
    check(&edited(|i| i["head"] = json!(null)), &[Code::E040]);
}

#[test]
fn e041_e106_manifest_block() {
    check(&edited(|i| remove(i, "manifest")), &[Code::E041]);
    check(&edited(|i| i["manifest"] = json!([])), &[Code::E106]);
    let mut old = base_1_0();
    old["manifest"] = json!("x");
    check(&old, &[Code::E041]);
    assert!(
        parse_inventory(edited(|i| remove(i, "manifest")).to_string().as_bytes())
            .inventory
            .is_none()
    );
}

#[test]
fn e092_manifest_values_and_digest_form() {
    check(
        &edited(|i| i["manifest"][d('b')] = json!("v2/content/dir/b.txt")),
        &[Code::E092],
    );
    check(
        &edited(|i| i["manifest"][d('b')] = json!(["v2/content/dir/b.txt", 7])),
        &[Code::E092],
    );
    // A key that cannot be a sha512 digest (and that no state uses: E107).
    check(
        &edited(|i| i["manifest"]["abc"] = json!(["v1/content/c.txt"])),
        &[Code::E092, Code::E107],
    );
    let findings = parse_inventory(
        edited(|i| i["manifest"]["abc"] = json!(["v1/content/c.txt"]))
            .to_string()
            .as_bytes(),
    )
    .findings;
    assert!(findings.iter().any(|f| f.message.contains("\"abc\"")));
}

#[test]
fn e096_manifest_digest_twice_ignoring_case() {
    check(
        &edited(|i| i["manifest"][d('A')] = json!(["v1/content/a2.txt"])),
        &[Code::E096],
    );
}

#[test]
fn e098_e099_e100_content_path_grammar() {
    let with_path = |path: &str| edited(|i| i["manifest"][d('b')] = json!([path]));
    check(&with_path(""), &[Code::E098]);
    check(&with_path("v2/content/../b.txt"), &[Code::E099]);
    check(&with_path("v2/content//b.txt"), &[Code::E099]);
    check(&with_path("v2/./content/b.txt"), &[Code::E099]);
    check(&with_path("/v2/content/b.txt"), &[Code::E100]);
    check(&with_path("v2/content/b.txt/"), &[Code::E100]);
    check(&with_path("//v2/content/b.txt"), &[Code::E099, Code::E100]);
}

#[test]
fn e101_content_path_unique_and_non_conflicting() {
    check(
        &edited(|i| i["manifest"][d('b')] = json!(["v1/content/a.txt"])),
        &[Code::E101],
    );
    check(
        &edited(|i| i["manifest"][d('b')] = json!(["v2/content/b.txt", "v2/content/b.txt"])),
        &[Code::E101],
    );
    check(
        &edited(|i| i["manifest"][d('b')] = json!(["v1/content/a.txt/b.txt"])),
        &[Code::E101],
    );
}

#[test]
fn e042_content_path_outside_a_content_directory() {
    let with_path = |path: &str| edited(|i| i["manifest"][d('b')] = json!([path]));
    check(&with_path("v3/content/b.txt"), &[Code::E042]);
    check(&with_path("v2/data/b.txt"), &[Code::E042]);
    check(&with_path("v2/b.txt"), &[Code::E042]);
    check(&with_path("b.txt"), &[Code::E042]);
    check(&with_path("v02/content/b.txt"), &[Code::E042]);
    // The declared content directory is the one that counts.
    check(
        &edited(|i| i["contentDirectory"] = json!("stuff")),
        &[Code::E042],
    );
    let stuff = base().to_string().replace("/content/", "/stuff/").replacen(
        "{",
        "{\"contentDirectory\":\"stuff\",",
        1,
    );
    check_bytes(stuff.as_bytes(), &[]);
}

#[test]
fn e107_unused_manifest_digest_in_1_1_only() {
    let extra = |mut inventory: Value| {
        inventory["manifest"][d('c')] = json!(["v2/content/c.txt"]);
        inventory
    };
    check(&extra(base()), &[Code::E107]);
    check(&extra(base_1_0()), &[]);
}

#[test]
fn versions_block() {
    check(&edited(|i| remove(i, "versions")), &[Code::E041]);
    check(&edited(|i| i["versions"] = json!([])), &[Code::E045]);
    check(&edited(|i| i["versions"] = json!({})), &[Code::E008]);
    assert!(
        parse_inventory(edited(|i| i["versions"] = json!({})).to_string().as_bytes())
            .inventory
            .is_none()
    );
}

#[test]
fn e046_e104_e105_version_names() {
    let with_key = |mut inventory: Value, key: &str| {
        let v1 = inventory["versions"]["v1"].clone();
        inventory["versions"][key] = v1;
        inventory
    };
    check(&with_key(base(), "1"), &[Code::E104]);
    check(&with_key(base(), "v0"), &[Code::E105]);
    check(&with_key(base(), "v-1"), &[Code::E105]);
    check(&with_key(base(), "version3"), &[Code::E046]);
    check(&with_key(base_1_0(), "1"), &[Code::E046]);
    check(&with_key(base_1_0(), "v0"), &[Code::E046]);
}

/// An inventory whose versions have the given names (one file each, all the same content).
fn named_versions(names: &[&str]) -> Value {
    let mut versions = serde_json::Map::new();
    let mut manifest = serde_json::Map::new();
    for (n, name) in names.iter().enumerate() {
        let digest = hex(char::from_digit(n as u32 % 16, 16).unwrap_or('0'), 128);
        let digest = format!("{}{:04x}", &digest[..124], n);
        manifest.insert(digest.clone(), json!([format!("{name}/content/f.txt")]));
        versions.insert(
            (*name).to_owned(),
            json!({
                "created": "2024-01-02T03:04:05Z",
                "state": { digest: ["f.txt"] },
                "message": "m",
                "user": { "name": "A", "address": "mailto:a@example.org" }
            }),
        );
    }
    json!({
        "id": "urn:example:1",
        "type": "https://ocfl.io/1.1/spec/#inventory",
        "digestAlgorithm": "sha512",
        "head": names.last().copied().unwrap_or("v1"),
        "manifest": manifest,
        "versions": versions
    })
}

#[test]
fn version_sequence() {
    check(&named_versions(&["v1", "v2", "v3"]), &[]);
    check(&named_versions(&["v2", "v3"]), &[Code::E009]);
    check(&named_versions(&["v1", "v3"]), &[Code::E010]);
    check(&named_versions(&["v1", "v2", "v5", "v7"]), &[Code::E010]);
    let findings = parse_inventory(named_versions(&["v1", "v4"]).to_string().as_bytes()).findings;
    assert!(findings[0].message.contains("2 to 3"), "{findings:?}");
}

#[test]
fn version_naming_convention() {
    check(&named_versions(&["v001", "v002"]), &[Code::W001]);
    check(
        &named_versions(&["v01", "v2"]),
        &[Code::W001, Code::E012, Code::E013],
    );
    check(&named_versions(&["v1", "v02"]), &[Code::E012, Code::E013]);
    let names = [
        "v01", "v02", "v03", "v04", "v05", "v06", "v07", "v08", "v09", "v10",
    ];
    check(
        &named_versions(&names),
        &[Code::W001, Code::E011, Code::E013],
    );
}

#[test]
fn e047_e048_version_block() {
    // v2 unusable: the digest only it used becomes unused (E107).
    check(
        &edited(|i| i["versions"]["v2"] = json!("x")),
        &[Code::E047, Code::E107],
    );
    check(
        &edited(|i| remove(&mut i["versions"]["v1"], "created")),
        &[Code::E048],
    );
    check(
        &edited(|i| remove(&mut i["versions"]["v2"], "state")),
        &[Code::E048, Code::E107],
    );
    // The version keeps its place even though its block is unusable.
    let parsed = parse_inventory(
        edited(|i| i["versions"]["v2"] = json!(null))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(parsed.inventory.map(|i| i.versions.len()), Some(2));
}

#[test]
fn e049_created() {
    let with_created = |created: Value| edited(|i| i["versions"]["v1"]["created"] = created);
    check(&with_created(json!("2019-01-01T02:03:04")), &[Code::E049]);
    check(&with_created(json!("2019-01-01T01:02Z")), &[Code::E049]);
    check(&with_created(json!("2019-01-01")), &[Code::E049]);
    check(&with_created(json!("yesterday")), &[Code::E049]);
    check(&with_created(json!({"key": "x"})), &[Code::E049]);
    check(&with_created(json!("2019-01-01 02:03:04Z")), &[Code::E049]);
    check(
        &with_created(json!("2019-01-01T02:03:04+0000")),
        &[Code::E049],
    );
    check(&with_created(json!("2019-02-30T02:03:04Z")), &[Code::E049]);
    check(&with_created(json!("2019-01-01T02:03:04.5-05:00")), &[]);
    check(&with_created(json!("2019-01-01T02:03:04+00:00")), &[]);
    check(&with_created(json!("2019-01-01t02:03:04z")), &[]);
}

#[test]
fn e050_state_digests_match_manifest_keys_exactly() {
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('c')] = json!(["c.txt"])),
        &[Code::E050],
    );
    // Different case: still E050 (an exact match is required), but the manifest entry is
    // used, so no E107.
    let upper = edited(|i| {
        remove(&mut i["versions"]["v2"]["state"], &d('b'));
        i["versions"]["v2"]["state"][d('B')] = json!(["dir/b.txt"]);
    });
    check(&upper, &[Code::E050]);
    let findings = parse_inventory(upper.to_string().as_bytes()).findings;
    assert!(findings[0].message.contains(&d('B')), "{findings:?}");
    assert!(findings[0].message.contains("case"), "{findings:?}");
    // Upper case in both places is fine.
    let both_upper = base().to_string().replace(&d('b'), &d('B'));
    check_bytes(both_upper.as_bytes(), &[]);
    // A state that is not an object, or a digest not mapping to an array.
    check(
        &edited(|i| i["versions"]["v2"]["state"] = json!("x")),
        &[Code::E050, Code::E107],
    );
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('b')] = json!("dir/b.txt")),
        &[Code::E050],
    );
}

#[test]
fn e051_e052_e053_logical_path_grammar() {
    let with_path = |path: Value| edited(|i| i["versions"]["v2"]["state"][d('b')] = json!([path]));
    check(&with_path(json!("")), &[Code::E051]);
    check(&with_path(json!(3)), &[Code::E051]);
    check(&with_path(json!("../../b.txt")), &[Code::E052]);
    check(&with_path(json!("dir/./b.txt")), &[Code::E052]);
    check(&with_path(json!("/b.txt")), &[Code::E053]);
    check(&with_path(json!("//b.txt")), &[Code::E052, Code::E053]);
}

#[test]
fn e095_logical_paths_unique_and_non_conflicting() {
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('b')] = json!(["a.txt"])),
        &[Code::E095],
    );
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('b')] = json!(["a.txt/b.txt"])),
        &[Code::E095],
    );
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('b')] = json!(["x", "x"])),
        &[Code::E095],
    );
    // The same path in different versions is normal.
    check(
        &edited(|i| i["versions"]["v2"]["state"][d('b')] = json!(["a-b.txt", "a/b.txt"])),
        &[],
    );
}

#[test]
fn message_and_user() {
    let v1 = |edit: &dyn Fn(&mut Value)| edited(|i| edit(&mut i["versions"]["v1"]));
    check(&v1(&|v| v["message"] = json!(["x"])), &[Code::E094]);
    check(&v1(&|v| v["message"] = json!(null)), &[Code::E094]);
    check(&v1(&|v| remove(v, "message")), &[Code::W007]);
    check(&v1(&|v| remove(v, "user")), &[Code::W007]);
    check(&v1(&|v| v["user"] = json!("x")), &[Code::E054]);
    check(&v1(&|v| v["user"] = json!({})), &[Code::E054, Code::W008]);
    check(&v1(&|v| v["user"]["name"] = json!(5)), &[Code::E054]);
    check(&v1(&|v| remove(&mut v["user"], "address")), &[Code::W008]);
    check(
        &v1(&|v| v["user"]["address"] = json!("a@example.org")),
        &[Code::W009],
    );
    check(&v1(&|v| v["user"]["address"] = json!(false)), &[Code::E054]);
    let findings = parse_inventory(v1(&|v| remove(v, "message")).to_string().as_bytes()).findings;
    assert!(findings[0].message.contains("v1"), "{findings:?}");
}

#[test]
fn e102_unknown_keys() {
    check(&edited(|i| i["extra"] = json!(1)), &[Code::E102]);
    check(
        &edited(|i| i["versions"]["v1"]["note"] = json!("x")),
        &[Code::E102],
    );
    check(
        &edited(|i| i["versions"]["v1"]["user"]["email"] = json!("x")),
        &[Code::E102],
    );
    let mut old = base_1_0();
    old["extra"] = json!(1);
    check(&old, &[Code::E102]);
}

#[test]
fn e017_e018_content_directory() {
    let with_dir = |dir: Value| edited(|i| i["contentDirectory"] = dir);
    check(&with_dir(json!("content/dir")), &[Code::E017]);
    check(&with_dir(json!(".")), &[Code::E018]);
    check(&with_dir(json!("..")), &[Code::E018]);
    check(&with_dir(json!(5)), &[Code::E017]);
    check(&with_dir(json!("")), &[Code::E108]);
    check(&with_dir(json!("content")), &[]);
    let mut old = base_1_0();
    old["contentDirectory"] = json!("");
    check(&old, &[Code::E017]);
}

#[test]
fn fixity() {
    let md5 = hex('c', 32);
    let with_fixity = |fixity: Value| edited(|i| i["fixity"] = fixity);
    check(&with_fixity(json!({})), &[]);
    check(
        &with_fixity(json!({ "md5": { md5.clone(): ["v1/content/a.txt"] },
                             "blake2b-160": { hex('d', 40): ["v2/content/dir/b.txt"] },
                             "size": { "12": ["v1/content/a.txt"] } })),
        &[],
    );
    check(&with_fixity(json!([])), &[Code::E111]);
    check(&with_fixity(json!(null)), &[Code::E111]);
    let mut old = base_1_0();
    old["fixity"] = json!("x");
    check(&old, &[Code::E056]);
    check(&with_fixity(json!({ "crc32": {} })), &[Code::E056]);
    check(&with_fixity(json!({ "MD5": {} })), &[Code::E056]);
    check(&with_fixity(json!({ "md5": [] })), &[Code::E057]);
    check(
        &with_fixity(json!({ "md5": { md5.clone(): "v1/content/a.txt" } })),
        &[Code::E057],
    );
    check(
        &with_fixity(json!({ "md5": { "xyz": ["v1/content/a.txt"] } })),
        &[Code::E057],
    );
    check(
        &with_fixity(json!({ "md5": { md5.clone(): ["v1/content/other.txt"] } })),
        &[Code::E057],
    );
    check(
        &with_fixity(
            json!({ "md5": { md5.clone(): ["/v1/content/a.txt", "v1/content/../a.txt"] } }),
        ),
        &[Code::E099, Code::E100],
    );
    check(
        &with_fixity(json!({ "md5": {
            md5.clone(): ["v1/content/a.txt"],
            md5.to_uppercase(): ["v2/content/dir/b.txt"]
        } })),
        &[Code::E097],
    );
    let parsed = parse_inventory(
        with_fixity(json!({ "md5": { md5.to_uppercase(): ["v1/content/a.txt"] } }))
            .to_string()
            .as_bytes(),
    );
    let fixity = parsed
        .inventory
        .and_then(|i| i.fixity)
        .expect("fixity kept");
    assert!(fixity["md5"].contains_key(&md5.to_uppercase()));
}

#[test]
fn serialization_is_sorted_pretty_and_round_trips() {
    let parsed = parse_inventory(base().to_string().as_bytes());
    let inventory = parsed.inventory.expect("valid");
    let bytes = inventory.to_json_bytes();
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.starts_with("{\n  \"digestAlgorithm\": \"sha512\",\n  \"head\": \"v2\",\n"));
    assert!(text.ends_with("}\n"));
    let keys: Vec<usize> = [
        "digestAlgorithm",
        "head",
        "id",
        "manifest",
        "type",
        "versions",
    ]
    .iter()
    .map(|k| text.find(&format!("\n  \"{k}\"")).expect("key present"))
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
    let again = parse_inventory(&bytes);
    assert!(again.findings.is_empty(), "{:?}", again.findings);
    assert_eq!(again.inventory.as_ref(), Some(&inventory));
    assert_eq!(inventory.to_json_bytes(), bytes);
}

#[test]
fn serialization_sorts_version_names_as_strings() {
    let names = ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10"];
    let inventory = parse_inventory(named_versions(&names).to_string().as_bytes())
        .inventory
        .expect("valid");
    let text = String::from_utf8(inventory.to_json_bytes()).expect("UTF-8");
    let v10 = text.find("\"v10\": {").expect("v10");
    let v2 = text.find("\"v2\": {").expect("v2");
    assert!(v10 < v2);
}

/// One allocation per distinct digest: every state's key is the manifest's own, not a copy,
/// even when the state writes the digest after an escape the manifest does not have.
#[test]
fn states_share_the_manifest_digest_allocations() {
    let mut document = serde_json::to_string(&base()).expect("serializable");
    // `\u0061` is `a`: the v2 state's key needs unescaping, so it is not read from the text.
    let escaped = format!("\\u0061{}", hex('a', 127));
    let v2_state = document.rfind(&d('a')).expect("v2 names the digest");
    document.replace_range(v2_state..v2_state + 128, &escaped);
    let parsed = parse_inventory(document.as_bytes());
    assert!(!parsed.has_errors(), "{:?}", parsed.findings);
    let inventory = parsed.inventory.expect("parsed");
    let mut shared = 0;
    for version in inventory.versions.values() {
        for digest in version.state.keys() {
            let (key, _) = inventory
                .manifest
                .get_key_value(digest)
                .expect("in the manifest");
            assert_eq!(key.as_str().as_ptr(), digest.as_str().as_ptr());
            shared += 1;
        }
    }
    assert_eq!(shared, 3);
}

/// Members of a manifest or state block, in the order written: (digest, paths).
type Members<'a> = Vec<(String, &'a [&'a str])>;

/// An inventory whose manifest and state members are written in the order given (serde_json
/// sorts map keys, so these documents are built as text): (digest, paths) pairs.
fn in_order(manifest: &[(String, &[&str])], states: &[&[(String, &[&str])]]) -> String {
    let block = |members: &[(String, &[&str])]| {
        let members: Vec<String> = members
            .iter()
            .map(|(digest, paths)| format!("{}: {}", json!(digest), json!(paths)))
            .collect();
        format!("{{{}}}", members.join(", "))
    };
    let versions: Vec<String> = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            format!(
                r#""v{}": {{"created": "2024-01-02T03:04:05Z", "message": "m", "user": {{"name": "A", "address": "mailto:a@example.org"}}, "state": {}}}"#,
                i + 1,
                block(state)
            )
        })
        .collect();
    format!(
        r#"{{"id": "urn:example:1", "type": "https://ocfl.io/1.1/spec/#inventory", "digestAlgorithm": "sha512", "head": "v{}", "manifest": {}, "versions": {{{}}}}}"#,
        states.len(),
        block(manifest),
        versions.join(", ")
    )
}

/// The parse looks manifest keys up by position while they are written in ascending order
/// and by hash otherwise: the order members are written in changes no finding and no part
/// of the model, whether the document is sound or has the defects those lookups decide
/// (E050 exact and other-case matches, E096, E107, E057 fixity paths).
#[test]
fn member_order_changes_no_finding_or_model() {
    let (a, b, c, e) = (d('a'), d('b'), d('c'), d('e'));
    let upper_b = d('B');
    let cases: Vec<(Members, Vec<Members>)> = vec![
        // Sound: v1 names a, b; v2 a, b (renamed) and c.
        (
            vec![
                (a.clone(), &["v1/content/a"]),
                (b.clone(), &["v1/content/b"]),
                (c.clone(), &["v2/content/c"]),
            ],
            vec![
                vec![(a.clone(), &["a"]), (b.clone(), &["b"])],
                vec![
                    (a.clone(), &["a"]),
                    (b.clone(), &["b2"]),
                    (c.clone(), &["c"]),
                ],
            ],
        ),
        // A state skipping keys, a key no state uses (E107), a state digest in another case
        // (E050) and one not in the manifest (E050).
        (
            vec![
                (a.clone(), &["v1/content/a"]),
                (b.clone(), &["v1/content/b"]),
                (c.clone(), &["v2/content/c"]),
                (e.clone(), &["v2/content/e"]),
            ],
            vec![
                vec![(a.clone(), &["a"]), (upper_b.clone(), &["b"])],
                vec![(a.clone(), &["a"]), (c.clone(), &["c"]), (d('f'), &["f"])],
            ],
        ),
        // A digest twice ignoring case (E096; which of the two its message names, and the
        // order of the paths the entry merges, follow the document: compared by code below).
        (
            vec![
                (a.clone(), &["v1/content/a"]),
                (upper_b.clone(), &["v1/content/b2"]),
                (b.clone(), &["v1/content/b"]),
            ],
            vec![vec![(a.clone(), &["a"]), (b.clone(), &["b"])]],
        ),
    ];
    for (manifest, states) in cases {
        let states: Vec<&[(String, &[&str])]> = states.iter().map(Vec::as_slice).collect();
        let reversed_manifest: Vec<_> = manifest.iter().rev().cloned().collect();
        let reversed_states: Vec<Vec<_>> = states
            .iter()
            .map(|s| s.iter().rev().cloned().collect())
            .collect();
        let reversed_states: Vec<&[(String, &[&str])]> =
            reversed_states.iter().map(Vec::as_slice).collect();
        let documents = [
            in_order(&manifest, &states),
            in_order(&reversed_manifest, &states),
            in_order(&manifest, &reversed_states),
            in_order(&reversed_manifest, &reversed_states),
        ];
        let sorted_findings = |text: &str| {
            let parsed = parse_inventory(text.as_bytes());
            let mut findings: Vec<(Code, String)> = parsed
                .findings
                .iter()
                .map(|f| (f.code, f.message.clone()))
                .collect();
            findings.sort();
            (parsed.inventory, findings)
        };
        let first = sorted_findings(&documents[0]);
        assert!(first.0.is_some(), "{}", documents[0]);
        let case_duplicate = first.1.iter().any(|(code, _)| *code == Code::E096);
        for document in &documents[1..] {
            if case_duplicate {
                assert_eq!(
                    codes_of(document.as_bytes()),
                    codes_of(documents[0].as_bytes())
                );
            } else {
                assert_eq!(sorted_findings(document), first, "{document}");
            }
        }
        // Fixity paths are checked against the manifest's (E057), in either order.
        for document in &documents {
            let with_fixity = document.replacen(
                r#""manifest""#,
                r#""fixity": {"md5": {"0cc175b9c0f1b6a831c399e269772661": ["v1/content/a", "v1/content/zz"]}}, "manifest""#,
                1,
            );
            let (_, findings) = sorted_findings(&with_fixity);
            let e057: Vec<&String> = findings
                .iter()
                .filter(|(code, _)| *code == Code::E057)
                .map(|(_, message)| message)
                .collect();
            assert_eq!(e057.len(), 1, "{findings:?}");
            assert!(e057[0].contains("v1/content/zz"), "{e057:?}");
        }
    }
}
