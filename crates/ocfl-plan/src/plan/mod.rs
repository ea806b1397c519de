//! Plans: what an update will write, decided before anything is written.
//!
//! [`plan`] is a pure function: the same base inventory, stage, options and timestamp give a
//! byte-identical [`Plan`] (its serialized form included). The inventory is serialized here,
//! once; the version directory and the object root receive the same bytes. The step order is
//! the protocol of `docs/durability.md`.

mod base;
mod build;
mod describe;
mod serde_forms;

use std::borrow::Cow;
use std::sync::OnceLock;

use ocfl_core::SpecVersion;
use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::User;
use ocfl_core::namaste::Declaration;
use ocfl_core::sidecar::{INVENTORY_FILE, sidecar_contents, sidecar_name};
use ocfl_core::storage::join;
use ocfl_core::version_num::VersionNum;
use serde::{Deserialize, Serialize};

pub use base::Base;
pub use build::{plan, plan_owned};

pub use ocfl_core::storage::CLAIM_OWNER;

#[cfg(feature = "testing")]
pub use scans::protocol_scans;

/// How often this thread scanned a plan's steps for its protocol: a test's proof that the
/// scan happens once per plan, not once per batch of steps.
#[cfg(feature = "testing")]
mod scans {
    use std::cell::Cell;

    thread_local! {
        static SCANS: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn count() {
        SCANS.with(|scans| scans.set(scans.get() + 1));
    }

    /// The number of scans of a plan's steps for its protocol made on this thread so far.
    pub fn protocol_scans() -> u64 {
        SCANS.with(Cell::get)
    }
}

/// What planning decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new version (or a new object) is to be written.
    Update(Plan),
    /// The object's head version already holds exactly the staged state.
    NoChange {
        /// The head version that holds it.
        head: VersionNum,
    },
}

/// How to plan an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The object id (must match an existing object's).
    pub object_id: String,
    /// Where the object lives, relative to the executor's filesystem root.
    pub object_path: String,
    /// The update's own work directory, on the same filesystem, outside the object.
    pub work_path: String,
    /// The specification version of the new version: `None` keeps an existing object's (OCFL
    /// 1.1 for a new object); a later one upgrades the object.
    pub spec_version: Option<SpecVersion>,
    /// The content digest algorithm: `None` keeps an existing object's (sha512 for a new
    /// object). Changing it on an existing object is refused.
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// The content directory name for a new object (`None`: the default `content`, left
    /// implicit). For an existing object it must be `None` or the object's own.
    pub content_directory: Option<String>,
    /// Fixity algorithms to record for new content (the stage must have computed them).
    pub fixity: Vec<DigestAlgorithm>,
    /// Zero-padded version numbers of this width (`Some(4)`: `v0001`) for a new object;
    /// `None` for `v1`. For an existing object it must be `None` or the object's own.
    pub padding: Option<u8>,
    /// The version message.
    pub message: Option<String>,
    /// The version's user.
    pub user: Option<User>,
    /// Which update protocol the steps follow: an input, since plans are pure (see
    /// [`Protocol::for_storage`]).
    pub protocol: Protocol,
}

/// The update protocols a plan can follow (`docs/durability.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Sections 4-8: build in a work directory, flush, and rename into the object.
    #[default]
    Rename,
    /// Section 11, for stores without atomic renames (S3): claim the version with a
    /// create-only write, write content to its final keys, and commit with a conditional
    /// write of the root inventory.
    ObjectStore,
}

impl Protocol {
    /// The protocol a storage needs: [`Protocol::Rename`] where renames are atomic.
    pub fn for_storage(storage: &dyn ocfl_core::storage::Storage) -> Protocol {
        if storage.renames_atomically() {
            Protocol::Rename
        } else {
            Protocol::ObjectStore
        }
    }
}

impl PlanOptions {
    /// Options with defaults for everything but the id and the two paths.
    pub fn new(
        object_id: impl Into<String>,
        object_path: impl Into<String>,
        work_path: impl Into<String>,
    ) -> PlanOptions {
        PlanOptions {
            object_id: object_id.into(),
            object_path: object_path.into(),
            work_path: work_path.into(),
            spec_version: None,
            digest_algorithm: None,
            content_directory: None,
            fixity: Vec::new(),
            padding: None,
            message: None,
            user: None,
            protocol: Protocol::Rename,
        }
    }
}

/// Why no plan could be made. Every variant names the object or the setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object id is empty or has control characters.
    #[error("invalid object id: {0}")]
    ObjectId(#[from] ocfl_core::object_id::ObjectIdError),
    /// The existing object has another id.
    #[error("the object at {path} has id {found:?}, not {expected:?}")]
    IdMismatch {
        /// The object path.
        path: String,
        /// The id asked for.
        expected: String,
        /// The id in its inventory.
        found: String,
    },
    /// The object or work path is not a usable storage path, or one contains the other.
    #[error("invalid {what} {path:?}: {reason}")]
    Path {
        /// `object path` or `work path`.
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The existing inventory cannot be used as a base.
    #[error("{path}/inventory.json cannot be updated: {reason}")]
    InvalidBase {
        /// The object path.
        path: String,
        /// The first problem found.
        reason: String,
    },
    /// The content digest algorithm cannot be used or changed.
    #[error("object {object}: {reason}")]
    DigestAlgorithm {
        /// The object id.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The requested specification version is older than the object's.
    #[error("object {object} is OCFL {current}; it cannot be written as OCFL {requested}")]
    SpecDowngrade {
        /// The object id.
        object: String,
        /// Its current version.
        current: SpecVersion,
        /// The version asked for.
        requested: SpecVersion,
    },
    /// The content directory is invalid or differs from the object's.
    #[error("object {object}: content directory {requested:?}: {reason}")]
    ContentDirectory {
        /// The object id.
        object: String,
        /// The name asked for.
        requested: String,
        /// What is wrong.
        reason: String,
    },
    /// The version padding is invalid or differs from the object's.
    #[error("object {object}: version padding {requested}: {reason}")]
    Padding {
        /// The object id.
        object: String,
        /// The width asked for.
        requested: u8,
        /// What is wrong.
        reason: String,
    },
    /// A fixity algorithm was asked for that the stage did not compute.
    #[error("object {object}: fixity {algorithm} was not computed when the source was staged")]
    MissingFixity {
        /// The object id.
        object: String,
        /// The algorithm.
        algorithm: DigestAlgorithm,
    },
    /// No further version number fits the object's zero-padded width.
    #[error("object {object}: {source}")]
    VersionsExhausted {
        /// The object id.
        object: String,
        /// The version-number error.
        #[source]
        source: ocfl_core::version_num::VersionNumError,
    },
}

/// The base a plan was made against: a digest of the root inventory's exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// The root inventory's digest (content algorithm of the object).
    #[serde(with = "serde_forms::digest")]
    pub digest: Digest,
    /// Its head version.
    #[serde(with = "serde_forms::version")]
    pub head: VersionNum,
    /// Its specification version.
    #[serde(with = "serde_forms::spec")]
    pub spec_version: SpecVersion,
}

/// An update: the steps to run, in order, and everything they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The object id.
    pub object_id: String,
    /// Where the object lives (relative to the executor's filesystem root).
    pub object_path: String,
    /// The update's work directory.
    pub work_path: String,
    /// The version this plan writes.
    #[serde(with = "serde_forms::version")]
    pub version: VersionNum,
    /// The specification version of the new inventory.
    #[serde(with = "serde_forms::spec")]
    pub spec_version: SpecVersion,
    /// The object's content digest algorithm.
    #[serde(with = "serde_forms::algorithm")]
    pub digest_algorithm: DigestAlgorithm,
    /// The inventory the plan was made against; `None` for a new object.
    pub base: Option<BaseRef>,
    /// The new inventory, exactly as written to the version directory and the root. Left out
    /// of the JSON of [`Plan::write_blob`], which carries it as raw bytes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub inventory: String,
    /// Its digest (the content of both sidecars).
    #[serde(with = "serde_forms::digest")]
    pub inventory_digest: Digest,
    /// The steps, in execution order. A plan's steps are not edited once made: the protocol
    /// they follow is derived from them once ([`Plan::protocol`]).
    pub steps: Vec<Step>,
    /// The protocol the steps follow, set by the builder and found once for a decoded plan:
    /// an engine runs one executor per batch of steps, and a scan of every step per batch
    /// made a million-file commit quadratic. Derived from `steps`, so it is neither
    /// serialized nor compared.
    #[serde(skip)]
    known_protocol: KnownProtocol,
}

/// [`Plan::protocol`], once known. Equal to any other: it is a function of the steps, which
/// the plans' equality compares.
#[derive(Debug, Clone, Default)]
struct KnownProtocol(OnceLock<Protocol>);

impl PartialEq for KnownProtocol {
    fn eq(&self, _: &KnownProtocol) -> bool {
        true
    }
}

impl Eq for KnownProtocol {}

impl KnownProtocol {
    fn known(protocol: Protocol) -> KnownProtocol {
        KnownProtocol(OnceLock::from(protocol))
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// A stable id, unique in the plan (`copy v2/content/a.txt`, `root-sidecar`).
    pub id: String,
    /// What the step does.
    pub action: Action,
    /// The bytes it writes (0 for steps that only create, move or check).
    pub size: u64,
    /// The content digest of the file it writes, if it writes one.
    #[serde(with = "serde_forms::digest_option")]
    pub digest: Option<Digest>,
}

/// What a step does. Paths are relative to the executor's filesystem root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Refuse to go on unless the object is still in the plan's base state (or already in
    /// the plan's new state); for a new object, unless its path is free.
    CheckBase,
    /// Create a directory in the work area.
    CreateDir {
        /// The directory.
        path: String,
    },
    /// Copy the staged bytes of `digest` to `path`, streaming through `temp`.
    Copy {
        /// The content digest (also the step's digest).
        #[serde(with = "serde_forms::digest")]
        digest: Digest,
        /// The destination, in the work area.
        path: String,
        /// The temporary file.
        temp: String,
    },
    /// Make everything below `path` durable in one batch.
    Flush {
        /// The directory.
        path: String,
    },
    /// Write `contents` durably to `path` (temporary file, flush, rename, flush directory).
    Write {
        /// The destination, in the work area.
        path: String,
        /// The temporary file.
        temp: String,
        /// What to write.
        contents: Contents,
    },
    /// Move a finished directory into place with one rename. `marker` (below `to`) holds
    /// this plan's inventory once the move has happened.
    MoveIn {
        /// The finished directory in the work area.
        from: String,
        /// Its place in the storage root.
        to: String,
        /// The inventory that proves the move happened.
        marker: String,
    },
    /// Rename a prepared file from the work area into the object root. If the prepared file
    /// is missing or torn it is written again from `contents` (through `temp`) first.
    Install {
        /// The prepared file.
        from: String,
        /// Its place in the object root.
        to: String,
        /// A temporary file for re-preparing it.
        temp: String,
        /// What it holds.
        contents: Contents,
    },
    /// Remove a file from the object root (the previous declaration on an upgrade).
    Remove {
        /// The file.
        path: String,
    },
    /// Claim the new version for this update (object-store protocol): write the version's
    /// inventory to `path` only if nothing is there, with the plan's work path as the
    /// claim's owner; a claim of another update refuses the run.
    Claim {
        /// The version inventory, `O/vN/inventory.json`.
        path: String,
    },
    /// Write `contents` to `path` in one durable write (object-store protocol), below the
    /// claimed version or, for the declaration, in the object root before the commit.
    Put {
        /// The destination.
        path: String,
        /// What to write.
        contents: Contents,
    },
    /// Send the staged bytes of `digest` to their final key `path` (object-store protocol),
    /// hashed as they are sent: bytes that are not the staged ones are never completed.
    Upload {
        /// The content digest (also the step's digest).
        #[serde(with = "serde_forms::digest")]
        digest: Digest,
        /// The destination, below the claimed version.
        path: String,
    },
    /// The commit point of the object-store protocol: write the root inventory at `path`
    /// only if it is still the base one (for a new object: only if there is none).
    Commit {
        /// The object's root inventory.
        path: String,
    },
    /// Replace the root sidecar at `path` only if it is still the base's (object-store
    /// protocol), after the commit.
    CommitSidecar {
        /// The object's root sidecar.
        path: String,
    },
    /// Remove the work directory.
    Cleanup {
        /// The work directory.
        path: String,
    },
}

/// The bytes of a small file, derived from the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Contents {
    /// The new inventory.
    Inventory,
    /// Its sidecar.
    Sidecar,
    /// The object's conformance declaration for [`Plan::spec_version`].
    Declaration,
}

impl Plan {
    /// The bytes of `contents`. The inventory's are borrowed: for a large object they are
    /// tens of megabytes, which a copy would double while the plan is executed.
    pub fn contents(&self, contents: Contents) -> Cow<'_, [u8]> {
        match contents {
            Contents::Inventory => Cow::Borrowed(self.inventory.as_bytes()),
            Contents::Sidecar => Cow::Owned(sidecar_contents(&self.inventory_digest).into_bytes()),
            Contents::Declaration => Cow::Owned(
                Declaration::object(self.spec_version)
                    .contents()
                    .into_bytes(),
            ),
        }
    }

    /// The digest of `contents`, whose bytes are `bytes` (from [`Plan::contents`]): the
    /// inventory's is known, the small files' are computed.
    pub fn contents_digest(&self, contents: Contents, bytes: &[u8]) -> Digest {
        match contents {
            Contents::Inventory => self.inventory_digest.clone(),
            Contents::Sidecar | Contents::Declaration => self.digest_algorithm.digest_bytes(bytes),
        }
    }

    /// The path whose existence means the new version has left the work area: the version
    /// directory in the object, or the new object itself.
    pub fn installed_path(&self) -> String {
        match self.base {
            Some(_) => join(&self.object_path, &self.version.to_string()),
            None => self.object_path.clone(),
        }
    }

    /// The protocol the steps follow: known from the builder, or found once per decoded plan.
    pub fn protocol(&self) -> Protocol {
        *self.known_protocol.0.get_or_init(|| {
            #[cfg(feature = "testing")]
            scans::count();
            if self
                .steps
                .iter()
                .any(|step| matches!(step.action, Action::Claim { .. }))
            {
                Protocol::ObjectStore
            } else {
                Protocol::Rename
            }
        })
    }

    /// The new version's inventory, which the object-store protocol writes first as the
    /// version's claim.
    pub fn claim_path(&self) -> String {
        join(
            &self.object_path,
            &format!("{}/{INVENTORY_FILE}", self.version),
        )
    }

    /// The object's root inventory.
    pub fn root_inventory_path(&self) -> String {
        join(&self.object_path, INVENTORY_FILE)
    }

    /// The sidecar file name (`inventory.json.sha512`).
    pub fn sidecar_name(&self) -> String {
        sidecar_name(self.digest_algorithm)
    }

    /// The total bytes the steps write.
    pub fn total_bytes(&self) -> u64 {
        self.steps.iter().map(|s| s.size).sum()
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The plan as JSON (deterministic: fields in declaration order).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// A plan from [`Plan::to_json`] output.
    pub fn from_json(json: &str) -> Result<Plan, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Writes [`Plan::to_json`]'s text to `out` as it is produced, without holding it whole
    /// (a plan of 100,000 files is tens of megabytes of JSON).
    pub fn write_json(&self, out: impl std::io::Write) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }

    /// A plan read from a stream of [`Plan::to_json`] text (buffer `json`: it is read in
    /// small pieces).
    pub fn read_json(json: impl std::io::Read) -> Result<Plan, serde_json::Error> {
        serde_json::from_reader(json)
    }

    /// Writes the plan as [`Plan::read_blob`] reads it: a header line, the length of the new
    /// inventory and its bytes as they are, then the JSON of the rest. Inside the JSON the
    /// inventory (tens of megabytes for a large object, mostly quotes) would be escaped
    /// character by character as it is written and unescaped as it is read. The plan is left
    /// as it was.
    pub fn write_blob(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let inventory = std::mem::take(&mut self.inventory);
        let written = (|| {
            write!(out, "{BLOB_HEADER}\n{}\n", inventory.len())?;
            out.write_all(inventory.as_bytes())?;
            serde_json::to_writer(&mut *out, self).map_err(std::io::Error::from)
        })();
        self.inventory = inventory;
        written
    }

    /// A plan from [`Plan::write_blob`]'s bytes, or from [`Plan::to_json`]'s text (the form
    /// earlier releases recorded).
    pub fn read_blob(blob: impl std::io::Read) -> Result<Plan, serde_json::Error> {
        use serde::de::Error as _;
        use std::io::{BufRead, Read};
        let mut blob = std::io::BufReader::new(blob);
        let first = blob.fill_buf().map_err(serde_json::Error::io)?;
        if first.first() != BLOB_HEADER.as_bytes().first() {
            return serde_json::from_reader(blob);
        }
        let mut line = String::new();
        blob.read_line(&mut line).map_err(serde_json::Error::io)?;
        if line.trim_end() != BLOB_HEADER {
            return Err(serde_json::Error::custom(format!(
                "not a plan: begins with {:?}",
                line.trim_end()
            )));
        }
        line.clear();
        blob.read_line(&mut line).map_err(serde_json::Error::io)?;
        let len: usize = line.trim_end().parse().map_err(|_| {
            serde_json::Error::custom(format!("plan: inventory length {:?}", line.trim_end()))
        })?;
        let mut bytes = Vec::new();
        (&mut blob)
            .take(len as u64)
            .read_to_end(&mut bytes)
            .map_err(serde_json::Error::io)?;
        if bytes.len() != len {
            return Err(serde_json::Error::custom(format!(
                "plan: inventory cut short at {} of {len} bytes",
                bytes.len()
            )));
        }
        let inventory = String::from_utf8(bytes)
            .map_err(|_| serde_json::Error::custom("plan: the inventory is not UTF-8"))?;
        let mut plan: Plan = serde_json::from_reader(blob)?;
        plan.inventory = inventory;
        Ok(plan)
    }
}

/// The first line of [`Plan::write_blob`]'s form.
const BLOB_HEADER: &str = "ocfl-plan-blob 1";
