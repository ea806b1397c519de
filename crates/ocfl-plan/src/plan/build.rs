//! Building a plan: settle the options against the base, build the new inventory, and lay out
//! the steps of `docs/durability.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use ocfl_core::SpecVersion;
use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::{Inventory, Version};
use ocfl_core::namaste::Declaration;
use ocfl_core::object_id::ObjectId;
use ocfl_core::path::{ContentPath, LogicalPath, check_path};
use ocfl_core::sidecar::INVENTORY_FILE;
use ocfl_core::storage::{check_storage_path, join};
use ocfl_core::version_num::VersionNum;

use super::{
    Action, Base, BaseRef, Contents, Error, KnownProtocol, Outcome, Plan, PlanOptions, Protocol,
    Step,
};
use crate::stage::{Stage, StagedFile};

/// Plans the update that makes the object hold exactly `stage` as a new version created at
/// `created`. Pure: it reads nothing but its arguments.
///
/// `base` is the object's current root inventory, `None` to create the object. The result is
/// [`Outcome::NoChange`] when the head version already holds the staged state and no
/// specification upgrade is asked for.
pub fn plan(
    base: Option<&Base>,
    stage: &Stage,
    options: &PlanOptions,
    created: DateTime<FixedOffset>,
) -> Result<Outcome, Error> {
    plan_from(base.map(Start::Borrowed), stage, options, created)
}

/// [`plan`] of a base the caller gives up: its inventory becomes the new inventory instead of
/// being copied into it, so that the base and its copy (each the whole manifest and every
/// version's state) are never in memory together. The plan is the same as [`plan`]'s.
pub fn plan_owned(
    base: Option<Base>,
    stage: &Stage,
    options: &PlanOptions,
    created: DateTime<FixedOffset>,
) -> Result<Outcome, Error> {
    plan_from(base.map(Start::Owned), stage, options, created)
}

/// The base a plan starts from: lent (its inventory copied) or given (its inventory reused).
enum Start<'a> {
    Borrowed(&'a Base),
    Owned(Base),
}

impl Start<'_> {
    fn base(&self) -> &Base {
        match self {
            Start::Borrowed(base) => base,
            Start::Owned(base) => base,
        }
    }

    fn into_inventory(self) -> Inventory {
        match self {
            Start::Borrowed(base) => base.inventory.clone(),
            Start::Owned(base) => base.inventory,
        }
    }
}

fn plan_from(
    start: Option<Start<'_>>,
    stage: &Stage,
    options: &PlanOptions,
    created: DateTime<FixedOffset>,
) -> Result<Outcome, Error> {
    let base = start.as_ref().map(Start::base);
    ObjectId::new(options.object_id.as_str())?;
    check_paths(options)?;
    let settings = match base {
        Some(base) => settle_existing(base, options)?,
        None => settle_new(options)?,
    };
    check_stage(stage, &settings, options)?;
    if let Some(base) = base {
        let head = base.inventory.head;
        if settings.spec_version == base.inventory.spec_version
            && same_state(&base.inventory, head, stage)
        {
            return Ok(Outcome::NoChange { head });
        }
    }

    let base_ref = base.map(|b| BaseRef {
        digest: b.digest.clone(),
        head: b.inventory.head,
        spec_version: b.inventory.spec_version,
    });
    let (inventory, copies) = new_inventory(
        start.map(Start::into_inventory),
        stage,
        &settings,
        options,
        created,
    )?;
    let mut inventory_bytes = inventory.to_json_bytes();
    // The serializer reserves for the longest likely text; the plan keeps it for its life.
    inventory_bytes.shrink_to_fit();
    // The inventory now lives on as its text; the steps below need only `copies`. Freeing the
    // tree first keeps the two largest structures of a big plan from coexisting.
    drop(inventory);
    let inventory_digest = settings.digest_algorithm.digest_bytes(&inventory_bytes);
    // Serialization writes JSON text, which is UTF-8: the bytes become the text without a copy.
    let inventory_text = String::from_utf8(inventory_bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let mut plan = Plan {
        object_id: options.object_id.clone(),
        object_path: options.object_path.clone(),
        work_path: options.work_path.clone(),
        version: settings.version,
        spec_version: settings.spec_version,
        digest_algorithm: settings.digest_algorithm,
        base: base_ref,
        inventory: inventory_text,
        inventory_digest,
        steps: Vec::new(),
        known_protocol: KnownProtocol::default(),
    };
    plan.steps = match options.protocol {
        Protocol::Rename => steps(&plan, &copies),
        Protocol::ObjectStore => object_store_steps(&plan, &copies),
    };
    plan.known_protocol = KnownProtocol::known(options.protocol);
    Ok(Outcome::Update(plan))
}

/// The options, settled against the base (or the defaults for a new object).
struct Settings {
    version: VersionNum,
    spec_version: SpecVersion,
    digest_algorithm: DigestAlgorithm,
    content_directory: Option<String>,
}

fn check_paths(options: &PlanOptions) -> Result<(), Error> {
    let bad = |what, path: &str, reason| Error::Path {
        what,
        path: path.to_owned(),
        reason,
    };
    for (what, path) in [
        ("object path", &options.object_path),
        ("work path", &options.work_path),
    ] {
        if path.is_empty() || check_storage_path(path).is_err() {
            return Err(bad(what, path, "not a relative path of normal elements"));
        }
    }
    let (object, work) = (options.object_path.as_str(), options.work_path.as_str());
    let inside = |outer: &str, inner: &str| {
        inner == outer
            || inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/')
    };
    if inside(object, work) || inside(work, object) {
        return Err(bad(
            "work path",
            work,
            "the work directory and the object must not contain each other",
        ));
    }
    Ok(())
}

fn settle_new(options: &PlanOptions) -> Result<Settings, Error> {
    let object = &options.object_id;
    let digest_algorithm = options.digest_algorithm.unwrap_or(DigestAlgorithm::Sha512);
    if !digest_algorithm.is_content_algorithm() {
        return Err(Error::DigestAlgorithm {
            object: object.clone(),
            reason: format!("{digest_algorithm} is not a content digest algorithm"),
        });
    }
    if let Some(name) = &options.content_directory
        && (name.contains('/') || check_path(name).is_err())
    {
        return Err(Error::ContentDirectory {
            object: object.clone(),
            requested: name.clone(),
            reason: "must be one path element other than '.' and '..'".into(),
        });
    }
    let version = match options.padding {
        None => VersionNum::V1,
        Some(width) => padded_v1(width).ok_or_else(|| Error::Padding {
            object: object.clone(),
            requested: width,
            reason: "a zero-padded width is between 2 and 20 digits".into(),
        })?,
    };
    Ok(Settings {
        version,
        spec_version: options.spec_version.unwrap_or(SpecVersion::LATEST),
        digest_algorithm,
        // The default name is left implicit, as most objects do.
        content_directory: options
            .content_directory
            .clone()
            .filter(|name| name != "content"),
    })
}

fn padded_v1(width: u8) -> Option<VersionNum> {
    if !(2..=20).contains(&width) {
        return None;
    }
    VersionNum::parse(&format!("v{:0width$}", 1, width = usize::from(width))).ok()
}

fn settle_existing(base: &Base, options: &PlanOptions) -> Result<Settings, Error> {
    let inventory = &base.inventory;
    let object = &options.object_id;
    if inventory.id != *object {
        return Err(Error::IdMismatch {
            path: options.object_path.clone(),
            expected: object.clone(),
            found: inventory.id.clone(),
        });
    }
    if let Some(requested) = options.digest_algorithm
        && requested != inventory.digest_algorithm
    {
        return Err(Error::DigestAlgorithm {
            object: object.clone(),
            reason: format!(
                "the object uses {}; changing it to {requested} is not supported",
                inventory.digest_algorithm
            ),
        });
    }
    let spec_version = options.spec_version.unwrap_or(inventory.spec_version);
    if spec_version < inventory.spec_version {
        return Err(Error::SpecDowngrade {
            object: object.clone(),
            current: inventory.spec_version,
            requested: spec_version,
        });
    }
    if let Some(requested) = &options.content_directory
        && requested != inventory.content_directory()
    {
        return Err(Error::ContentDirectory {
            object: object.clone(),
            requested: requested.clone(),
            reason: format!(
                "the object uses {:?}; all versions must use the same",
                inventory.content_directory()
            ),
        });
    }
    if let Some(requested) = options.padding
        && Some(requested) != inventory.head.padding()
    {
        return Err(Error::Padding {
            object: object.clone(),
            requested,
            reason: format!("the object's versions are named like {}", inventory.head),
        });
    }
    let version = inventory
        .head
        .next()
        .map_err(|source| Error::VersionsExhausted {
            object: object.clone(),
            source,
        })?;
    Ok(Settings {
        version,
        spec_version,
        digest_algorithm: inventory.digest_algorithm,
        content_directory: inventory.content_directory.clone(),
    })
}

fn check_stage(stage: &Stage, settings: &Settings, options: &PlanOptions) -> Result<(), Error> {
    if stage.digest_algorithm() != settings.digest_algorithm {
        return Err(Error::DigestAlgorithm {
            object: options.object_id.clone(),
            reason: format!(
                "the object uses {} but the source was staged with {}",
                settings.digest_algorithm,
                stage.digest_algorithm()
            ),
        });
    }
    for &algorithm in &options.fixity {
        if !stage.fixity_algorithms().contains(&algorithm) {
            return Err(Error::MissingFixity {
                object: options.object_id.clone(),
                algorithm,
            });
        }
    }
    Ok(())
}

/// Whether version `head` of `inventory` maps exactly the staged paths to the staged digests.
fn same_state(inventory: &Inventory, head: VersionNum, stage: &Stage) -> bool {
    let Some(version) = inventory.versions.get(&head) else {
        return false;
    };
    let mut current: BTreeMap<&LogicalPath, &Digest> = BTreeMap::new();
    for (digest, paths) in &version.state {
        for path in paths {
            current.insert(path, digest);
        }
    }
    current.len() == stage.len()
        && stage
            .files()
            .iter()
            .all(|(path, file)| current.get(path) == Some(&&file.digest))
}

/// The content a new version adds: the directory it goes to and, for each file, the staged
/// file with its bytes and the logical path naming it there, both borrowed from the stage. A
/// file's content path is derived when a step is made, not kept: a million of them took
/// 64 MB of a million-file plan's peak.
struct NewContent<'a> {
    /// `vN/CONTENT-DIRECTORY`.
    root: String,
    /// The first logical path of each new digest, sorted by it (so by content path).
    files: Vec<(&'a LogicalPath, &'a StagedFile)>,
}

impl NewContent<'_> {
    fn len(&self) -> usize {
        self.files.len()
    }

    /// The content path of a file of `files`.
    fn content_path(&self, logical: &LogicalPath) -> String {
        format!("{}/{logical}", self.root)
    }
}

/// The new inventory, made from the base's (`start`, `None` for a new object), and the
/// content it adds.
fn new_inventory<'a>(
    start: Option<Inventory>,
    stage: &'a Stage,
    settings: &Settings,
    options: &PlanOptions,
    created: DateTime<FixedOffset>,
) -> Result<(Inventory, NewContent<'a>), Error> {
    let mut inventory = match start {
        Some(inventory) => inventory,
        None => Inventory {
            id: options.object_id.clone(),
            spec_version: settings.spec_version,
            digest_algorithm: settings.digest_algorithm,
            head: settings.version,
            content_directory: settings.content_directory.clone(),
            manifest: BTreeMap::new(),
            versions: BTreeMap::new(),
            fixity: None,
        },
    };
    inventory.spec_version = settings.spec_version;
    inventory.head = settings.version;
    let content_root = format!("{}/{}", settings.version, inventory.content_directory());
    let state = stage.state();
    let mut copies = NewContent {
        root: content_root,
        files: Vec::new(),
    };
    for digest in state.keys() {
        if inventory.manifest.contains_key(digest) {
            continue; // already stored by an earlier version: not copied again
        }
        // The stage's first path of the digest, as the state's first is.
        let Some((first, file)) = stage.file_with(digest) else {
            continue;
        };
        // A logical path and a content-directory name are valid path elements, so their
        // join is a valid content path.
        let content_path =
            ContentPath::new(copies.content_path(first)).map_err(|e| Error::InvalidBase {
                path: options.object_path.clone(),
                reason: format!("content path for {first}: {e}"),
            })?;
        if !options.fixity.is_empty() {
            add_fixity(&mut inventory, &content_path, file, &options.fixity);
        }
        inventory
            .manifest
            .insert(digest.clone(), vec![content_path]);
        copies.files.push((first, file));
    }
    inventory.versions.insert(
        settings.version,
        Version {
            created: created.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            state,
            message: options.message.clone(),
            user: options.user.clone(),
        },
    );
    // The content paths share their prefix: in the order of the logical paths.
    copies.files.sort_by(|a, b| a.0.cmp(b.0));
    Ok((inventory, copies))
}

/// Records the requested fixity digests of `file`, new content at `content_path`.
fn add_fixity(
    inventory: &mut Inventory,
    content_path: &ContentPath,
    file: &StagedFile,
    algorithms: &[DigestAlgorithm],
) {
    let fixity = inventory.fixity.get_or_insert_with(BTreeMap::new);
    for &algorithm in algorithms {
        let block = fixity.entry(algorithm.name().to_owned()).or_default();
        let Some((_, value)) = file.fixity.iter().find(|(a, _)| *a == algorithm) else {
            continue;
        };
        // An existing entry may spell the same digest in upper case.
        let key = block
            .keys()
            .find(|k| value.matches(k))
            .cloned()
            .unwrap_or_else(|| value.as_str().to_owned());
        let paths = block.entry(key).or_default();
        if !paths.contains(content_path) {
            paths.push(content_path.clone());
        }
    }
}

/// The steps of `docs/durability.md`, section 4.
fn steps(plan: &Plan, copies: &NewContent<'_>) -> Vec<Step> {
    let work = plan.work_path.as_str();
    let version = plan.version.to_string();
    let sidecar = plan.sidecar_name();
    let declaration = Declaration::object(plan.spec_version).file_name();
    let temp = |name: &str| join(work, &format!("tmp/{name}"));
    // A step per copy and at most 16 others: reserved at once, not grown by doubling.
    let mut steps = Vec::with_capacity(copies.len() + 16);
    steps.push(step("check-base", Action::CheckBase));
    // A new object is built whole in `work/object`; a new version in `work/vN`.
    let building = match plan.base {
        Some(_) => work.to_owned(),
        None => join(work, "object"),
    };
    let version_dir = join(&building, &version);
    if plan.base.is_none() {
        steps.push(write_step(
            plan,
            "declare",
            join(&building, &declaration),
            temp("declaration"),
            Contents::Declaration,
        ));
    }
    steps.push(step(
        "version-dir",
        Action::CreateDir {
            path: version_dir.clone(),
        },
    ));
    for (i, &(logical, file)) in copies.files.iter().enumerate() {
        let content_path = copies.content_path(logical);
        steps.push(Step {
            id: format!("copy {content_path}"),
            action: Action::Copy {
                digest: file.digest.clone(),
                path: join(&building, &content_path),
                temp: temp(&format!("copy-{i}")),
            },
            size: file.size,
            digest: Some(file.digest.clone()),
        });
    }
    steps.push(step(
        "flush-content",
        Action::Flush {
            path: version_dir.clone(),
        },
    ));
    steps.push(write_step(
        plan,
        "version-inventory",
        join(&version_dir, INVENTORY_FILE),
        temp("version-inventory"),
        Contents::Inventory,
    ));
    steps.push(write_step(
        plan,
        "version-sidecar",
        join(&version_dir, &sidecar),
        temp("version-sidecar"),
        Contents::Sidecar,
    ));
    let object = plan.object_path.as_str();
    match &plan.base {
        None => {
            steps.push(write_step(
                plan,
                "root-inventory",
                join(&building, INVENTORY_FILE),
                temp("root-inventory"),
                Contents::Inventory,
            ));
            steps.push(write_step(
                plan,
                "root-sidecar",
                join(&building, &sidecar),
                temp("root-sidecar"),
                Contents::Sidecar,
            ));
            steps.push(step(
                "move-object",
                Action::MoveIn {
                    from: building.clone(),
                    to: object.to_owned(),
                    marker: join(object, &format!("{version}/{INVENTORY_FILE}")),
                },
            ));
        }
        Some(base) => {
            let prepared = join(work, "root");
            let upgrade = base.spec_version != plan.spec_version;
            if upgrade {
                steps.push(write_step(
                    plan,
                    "declare",
                    join(&prepared, &declaration),
                    temp("declaration"),
                    Contents::Declaration,
                ));
            }
            steps.push(write_step(
                plan,
                "root-inventory",
                join(&prepared, INVENTORY_FILE),
                temp("root-inventory"),
                Contents::Inventory,
            ));
            steps.push(write_step(
                plan,
                "root-sidecar",
                join(&prepared, &sidecar),
                temp("root-sidecar"),
                Contents::Sidecar,
            ));
            steps.push(step(
                "move-version",
                Action::MoveIn {
                    from: version_dir.clone(),
                    to: join(object, &version),
                    marker: join(object, &format!("{version}/{INVENTORY_FILE}")),
                },
            ));
            let install = |id: &str, name: &str, contents| {
                let action = Action::Install {
                    from: join(&prepared, name),
                    to: join(object, name),
                    temp: temp(id),
                    contents,
                };
                sized(plan, id, action, contents)
            };
            steps.push(install(
                "install-root-inventory",
                INVENTORY_FILE,
                Contents::Inventory,
            ));
            steps.push(install("install-root-sidecar", &sidecar, Contents::Sidecar));
            if upgrade {
                steps.push(install(
                    "install-declaration",
                    &declaration,
                    Contents::Declaration,
                ));
                let old = Declaration::object(base.spec_version).file_name();
                steps.push(step(
                    "remove-old-declaration",
                    Action::Remove {
                        path: join(object, &old),
                    },
                ));
            }
        }
    }
    steps.push(step(
        "cleanup",
        Action::Cleanup {
            path: work.to_owned(),
        },
    ));
    steps
}

/// The steps of `docs/durability.md`, section 11.3: claim, content to its final keys, the
/// conditional root inventory as the commit point, then the root sidecar. Nothing is written
/// to a work area: the source is read directly.
fn object_store_steps(plan: &Plan, copies: &NewContent<'_>) -> Vec<Step> {
    let object = plan.object_path.as_str();
    let version_dir = join(object, &plan.version.to_string());
    let sidecar = plan.sidecar_name();
    let declaration = Declaration::object(plan.spec_version).file_name();
    let mut steps = Vec::with_capacity(copies.len() + 8);
    steps.push(step("check-base", Action::CheckBase));
    steps.push(sized(
        plan,
        "claim",
        Action::Claim {
            path: plan.claim_path(),
        },
        Contents::Inventory,
    ));
    let put = |id: &str, path: String, contents| {
        sized(plan, id, Action::Put { path, contents }, contents)
    };
    steps.push(put(
        "version-sidecar",
        join(&version_dir, &sidecar),
        Contents::Sidecar,
    ));
    for &(logical, file) in &copies.files {
        let content_path = copies.content_path(logical);
        steps.push(Step {
            id: format!("copy {content_path}"),
            action: Action::Upload {
                digest: file.digest.clone(),
                path: join(object, &content_path),
            },
            size: file.size,
            digest: Some(file.digest.clone()),
        });
    }
    let upgrade = plan
        .base
        .as_ref()
        .map(|base| base.spec_version != plan.spec_version);
    if upgrade != Some(false) {
        steps.push(put(
            "declare",
            join(object, &declaration),
            Contents::Declaration,
        ));
    }
    steps.push(sized(
        plan,
        "commit",
        Action::Commit {
            path: plan.root_inventory_path(),
        },
        Contents::Inventory,
    ));
    steps.push(sized(
        plan,
        "root-sidecar",
        Action::CommitSidecar {
            path: join(object, &sidecar),
        },
        Contents::Sidecar,
    ));
    if let (Some(base), Some(true)) = (&plan.base, upgrade) {
        let old = Declaration::object(base.spec_version).file_name();
        steps.push(step(
            "remove-old-declaration",
            Action::Remove {
                path: join(object, &old),
            },
        ));
    }
    steps
}

/// A step that writes no file.
fn step(id: &str, action: Action) -> Step {
    Step {
        id: id.to_owned(),
        action,
        size: 0,
        digest: None,
    }
}

fn write_step(plan: &Plan, id: &str, path: String, temp: String, contents: Contents) -> Step {
    sized(
        plan,
        id,
        Action::Write {
            path,
            temp,
            contents,
        },
        contents,
    )
}

/// A step that writes `contents`: its size and digest are those bytes'.
fn sized(plan: &Plan, id: &str, action: Action, contents: Contents) -> Step {
    let (size, digest) = match contents {
        // Known already, and the inventory is the one large file: not copied nor hashed again.
        Contents::Inventory => (plan.inventory.len(), plan.inventory_digest.clone()),
        Contents::Sidecar | Contents::Declaration => {
            let bytes = plan.contents(contents);
            (bytes.len(), plan.digest_algorithm.digest_bytes(&bytes))
        }
    };
    Step {
        id: id.to_owned(),
        action,
        size: size as u64,
        digest: Some(digest),
    }
}
