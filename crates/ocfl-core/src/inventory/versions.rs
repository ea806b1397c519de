//! The `versions` block: version names and their sequence (E008-E013, E046, E104, E105,
//! W001), and each version's `created`, `state`, `message` and `user`.

use super::findings::Findings;
use super::json::Json;
use super::manifest::{KeyMatch, KeyUse};
use super::paths::{LOGICAL, path_problems};
use super::types::{Manifest, State, User, Version};
use crate::digest::Digest;
use crate::object_id::is_uri;
use crate::path::{LogicalPath, find_conflict};
use crate::validate::Code;
use crate::version_num::{VersionNum, VersionNumError};

/// One entry of `versions` whose key is a valid version directory name.
pub(super) struct VersionEntry<'a> {
    pub(super) num: VersionNum,
    /// The key exactly as written (content paths must use it: E014).
    pub(super) name: &'a str,
    /// The version block; the parser replaces it by `null` once read, to free it early.
    pub(super) block: Json<'a>,
}

const VERSION_KEYS: [&str; 4] = ["created", "state", "message", "user"];
const USER_KEYS: [&str; 2] = ["name", "address"];

/// The well-named versions in version order, or `None` when there are none (the reason has
/// been reported). Sequence and naming-convention defects are reported but do not drop
/// entries, so the rest of the inventory can still be checked.
pub(super) fn version_entries<'a>(
    value: Option<Json<'a>>,
    findings: &mut Findings,
) -> Option<Vec<VersionEntry<'a>>> {
    // A missing block could be E041, E043 or E044 (three sentences saying the same); E041
    // covers manifest and versions alike, as ocfl-py reports it.
    let Some(value) = value else {
        findings.add(Code::E041, "the inventory has no \"versions\" block");
        return None;
    };
    let members = match value {
        Json::Object(members) => members,
        other => {
            findings.add(
                Code::E045,
                format!("\"versions\" must be an object, found {}", other.kind()),
            );
            return None;
        }
    };
    if members.is_empty() {
        findings.add(
            Code::E008,
            "\"versions\" is empty: an object needs at least one version",
        );
        return None;
    }
    let mut entries = Vec::with_capacity(members.len());
    for (name, block) in members.into_vec() {
        match VersionNum::parse(name) {
            Ok(num) => entries.push(VersionEntry { num, name, block }),
            Err(error) => report_bad_name(name, &error, findings),
        }
    }
    if entries.is_empty() {
        findings.add(
            Code::E008,
            "no key of \"versions\" is a version directory name (v1, v2, ... or v01, v02, ...)",
        );
        return None;
    }
    entries.sort_by_key(|e| e.num);
    check_sequence(&entries, findings);
    check_convention(&entries, findings);
    Some(entries)
}

fn report_bad_name(name: &str, error: &VersionNumError, findings: &mut Findings) {
    let code = if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
        // `1` instead of `v1`: 1.1 names this defect (E104); 1.0 only has E046.
        findings.by_version(Code::E104, Code::E046)
    } else if matches!(error, VersionNumError::Zero(_))
        || name
            .strip_prefix("v-")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    {
        findings.by_version(Code::E105, Code::E046)
    } else {
        Code::E046
    };
    findings.add(
        code,
        format!("\"versions\" key {name:?} is not a version directory name: {error}"),
    );
}

/// E009 (does not start at 1) and E010 (gaps).
fn check_sequence(entries: &[VersionEntry<'_>], findings: &mut Findings) {
    let first = &entries[0];
    if first.num.number() != 1 {
        findings.add(
            Code::E009,
            format!(
                "the version sequence starts at {}, not at version 1",
                first.name
            ),
        );
    }
    for pair in entries.windows(2) {
        let (a, b) = (pair[0].num.number(), pair[1].num.number());
        if b > a + 1 {
            let missing = if b == a + 2 {
                format!("version {} is", a + 1)
            } else {
                format!("versions {} to {} are", a + 1, b - 1)
            };
            findings.add(
                Code::E010,
                format!(
                    "the version sequence has a gap: {missing} missing between {} and {}",
                    pair[0].name, pair[1].name
                ),
            );
        }
    }
}

/// W001 (zero-padded names), E011 (a padded sequence outgrew its width), E012 (names of
/// mixed conventions) and E013 (a later version did not follow the first one's convention).
fn check_convention(entries: &[VersionEntry<'_>], findings: &mut Findings) {
    let first = &entries[0];
    if let Some(width) = first.num.padding() {
        findings.add(
            Code::W001,
            format!(
                "version names are zero-padded to {width} digits ({}); unpadded names (v1, v2, ...) are recommended",
                first.name
            ),
        );
    }
    let mut broken = false;
    for entry in &entries[1..] {
        if entry.num.same_convention(first.num) {
            continue;
        }
        broken = true;
        let outgrew = first.num.padding().is_some_and(|width| {
            entry.num.padding().is_none() && entry.name.len() - 1 == usize::from(width)
        });
        if outgrew {
            findings.add(
                Code::E011,
                format!(
                    "{} does not start with v0 although {} sets zero-padded names of that width",
                    entry.name, first.name
                ),
            );
        } else {
            findings.add(
                Code::E012,
                format!(
                    "{} does not use the naming convention (padding) of {}",
                    entry.name, first.name
                ),
            );
        }
    }
    if broken {
        findings.add(
            Code::E013,
            format!(
                "later versions do not follow the version naming convention established by {}",
                first.name
            ),
        );
    }
}

/// The manifest, for checking state digests (E050) and recording their use (E107).
pub(super) struct ManifestKeys<'m, 'a> {
    pub(super) keys: &'m mut KeyUse<'a>,
    pub(super) manifest: &'m Manifest,
}

/// Parses one version block. A block with defects still yields a [`Version`] (with an empty
/// state or empty `created` where those are unusable) so that version numbering stays intact.
pub(super) fn parse_version(
    entry: &VersionEntry<'_>,
    manifest: Option<&mut ManifestKeys<'_, '_>>,
    findings: &mut Findings,
) -> Version {
    let name = entry.name;
    let mut version = Version {
        created: String::new(),
        state: State::new(),
        message: None,
        user: None,
    };
    let Some(members) = entry.block.as_object() else {
        findings.add(
            Code::E047,
            format!(
                "version {name} must be an object, found {}",
                entry.block.kind()
            ),
        );
        return version;
    };
    findings.unknown_keys(members, &VERSION_KEYS, &format!("version {name}"));

    match entry.block.get("created") {
        None => findings.add(Code::E048, format!("version {name} has no \"created\"")),
        Some(Json::String(created)) => {
            if !is_rfc3339_to_seconds(created) {
                findings.add(
                    Code::E049,
                    format!(
                        "\"created\" of version {name} is {created:?}, not an RFC 3339 date-time with seconds and a time zone"
                    ),
                );
            }
            version.created = created.to_string();
        }
        Some(other) => findings.add(
            Code::E049,
            format!(
                "\"created\" of version {name} must be an RFC 3339 string, found {}",
                other.kind()
            ),
        ),
    }

    match entry.block.get("state") {
        None => findings.add(Code::E048, format!("version {name} has no \"state\"")),
        Some(state) => version.state = parse_state(name, state, manifest, findings),
    }

    match entry.block.get("message") {
        None => {}
        Some(Json::String(message)) => version.message = Some(message.to_string()),
        Some(other) => findings.add(
            Code::E094,
            format!(
                "\"message\" of version {name} must be a string, found {}",
                other.kind()
            ),
        ),
    }

    if let Some(user) = entry.block.get("user") {
        version.user = parse_user(name, user, findings);
    }

    let missing: Vec<&str> = ["message", "user"]
        .into_iter()
        .filter(|key| entry.block.get(key).is_none())
        .collect();
    if !missing.is_empty() {
        findings.add(
            Code::W007,
            format!("version {name} has no {}", missing.join(" and no ")),
        );
    }
    version
}

/// RFC 3339 `date-time`: a full date, a time to the second (fraction optional) and an offset
/// or `Z`. chrono's parser enforces all three (it rejects `02:03` and a missing offset), and
/// also accepts a space between date and time, which RFC 3339 only mentions as a readability
/// option outside its grammar (`full-date "T" full-time`, case-insensitive): we require the
/// `T`, as ocfl-py does.
fn is_rfc3339_to_seconds(text: &str) -> bool {
    matches!(text.as_bytes().get(10), Some(b'T' | b't'))
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

fn parse_state(
    name: &str,
    value: &Json,
    mut manifest: Option<&mut ManifestKeys<'_, '_>>,
    findings: &mut Findings,
) -> State {
    let Some(members) = value.as_object() else {
        findings.add(
            Code::E050,
            format!(
                "\"state\" of version {name} must be an object of digests, found {}",
                value.kind()
            ),
        );
        return State::new();
    };
    // Entries in document order, then one sorted bulk build of the map (full B-tree nodes).
    let mut entries: Vec<(Digest, Vec<LogicalPath>)> = Vec::with_capacity(members.len());
    let mut all_paths: Vec<&str> = Vec::new();
    for (digest, paths) in members {
        let mut shared = None;
        if let Some(manifest) = manifest.as_deref_mut() {
            match manifest.keys.mark(digest, manifest.manifest) {
                KeyMatch::Exact(key) => shared = Some(key),
                // Digests compare case-insensitively elsewhere, but E050 asks for an exact
                // match of the manifest key: say so, since a case difference is easy to miss.
                KeyMatch::OtherCase => findings.add(
                    Code::E050,
                    format!(
                        "state digest {digest} of version {name} matches a manifest key only when ignoring case; it must match exactly"
                    ),
                ),
                KeyMatch::Missing => findings.add(
                    Code::E050,
                    format!("state digest {digest} of version {name} is not a key of the manifest"),
                ),
            }
        }
        let key = shared.unwrap_or_else(|| Digest::new(digest));
        let Json::Array(items) = paths else {
            entries.push((key, Vec::new()));
            findings.add(
                Code::E050,
                format!(
                    "state of version {name}: digest {digest} must map to an array of logical paths, found {}",
                    paths.kind()
                ),
            );
            continue;
        };
        let mut logical_paths = Vec::with_capacity(items.len());
        for item in items {
            let Json::String(path) = item else {
                findings.add(
                    Code::E051,
                    format!(
                        "state of version {name}: digest {digest} lists {} instead of a logical path string",
                        item.kind()
                    ),
                );
                continue;
            };
            match LogicalPath::new(&**path) {
                Ok(logical) => {
                    logical_paths.push(logical);
                    all_paths.push(path);
                }
                Err(_) => {
                    for (code, reason) in path_problems(path, &LOGICAL) {
                        findings.add(
                            code,
                            format!("logical path {path:?} in version {name} {reason}"),
                        );
                    }
                }
            }
        }
        entries.push((key, logical_paths));
    }
    check_logical_conflicts(name, all_paths, findings);
    super::sorted::into_map(entries)
}

/// E095: a logical path twice in one version, or one that is a directory of another.
/// Sorting makes both checks O(n log n).
fn check_logical_conflicts(name: &str, mut paths: Vec<&str>, findings: &mut Findings) {
    paths.sort_unstable();
    let mut reported_duplicate = None;
    for pair in paths.windows(2) {
        if pair[0] == pair[1] && reported_duplicate != Some(pair[0]) {
            reported_duplicate = Some(pair[0]);
            findings.add(
                Code::E095,
                format!(
                    "logical path {:?} appears more than once in version {name}",
                    pair[0]
                ),
            );
        }
    }
    paths.dedup();
    if let Some((parent, child)) = find_conflict(&paths) {
        findings.add(
            Code::E095,
            format!(
                "logical path {parent:?} in version {name} is both a file and the directory of {child:?}"
            ),
        );
    }
}

fn parse_user(name: &str, value: &Json, findings: &mut Findings) -> Option<User> {
    let Some(members) = value.as_object() else {
        findings.add(
            Code::E054,
            format!(
                "\"user\" of version {name} must be an object with a \"name\", found {}",
                value.kind()
            ),
        );
        return None;
    };
    findings.unknown_keys(members, &USER_KEYS, &format!("\"user\" of version {name}"));
    let user_name = match value.get("name") {
        Some(Json::String(user_name)) => Some(user_name.to_string()),
        None => {
            findings.add(
                Code::E054,
                format!("\"user\" of version {name} has no \"name\""),
            );
            None
        }
        Some(other) => {
            findings.add(
                Code::E054,
                format!(
                    "\"user\".\"name\" of version {name} must be a string, found {}",
                    other.kind()
                ),
            );
            None
        }
    };
    let address = match value.get("address") {
        Some(Json::String(address)) => {
            if !is_uri(address) {
                findings.add(
                    Code::W009,
                    format!("user address {address:?} of version {name} is not a URI"),
                );
            }
            Some(address.to_string())
        }
        None => {
            findings.add(
                Code::W008,
                format!("\"user\" of version {name} has no \"address\""),
            );
            None
        }
        Some(other) => {
            findings.add(
                Code::E054,
                format!(
                    "\"user\".\"address\" of version {name} must be a string, found {}",
                    other.kind()
                ),
            );
            None
        }
    };
    user_name.map(|name| User { name, address })
}
