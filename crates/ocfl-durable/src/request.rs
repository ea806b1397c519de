//! What a commit asks for, and the run input the engine records for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_plan::stage::Edit;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// An `ocfl commit`: make the object `object_id` hold exactly the files below `source` as a
/// new version (creating the object if it does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    /// The object id.
    pub object_id: String,
    /// The source directory; its files become the new version's state.
    pub source: PathBuf,
    /// The version message.
    pub message: Option<String>,
    /// The version's user name.
    pub user_name: Option<String>,
    /// The version's user address (a URI); only recorded with a user name.
    pub user_address: Option<String>,
    /// The version's creation time; `None` uses the run's (deterministic) start time.
    pub created: Option<DateTime<FixedOffset>>,
    /// The specification version: `None` keeps an existing object's (for a new one, the version
    /// the storage root declares).
    pub spec_version: Option<SpecVersion>,
    /// The content digest algorithm: `None` keeps an existing object's (sha512 for a new one).
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// A new object's content digest algorithm when `digest_algorithm` is `None` (`None`:
    /// sha512), such as the storage root's setting. Unlike `digest_algorithm` it never
    /// applies to an existing object, which keeps its own.
    pub new_object_digest: Option<DigestAlgorithm>,
    /// Fixity algorithms to record for new content.
    pub fixity: Vec<DigestAlgorithm>,
    /// A new object's content directory name (`None`: `content`).
    pub content_directory: Option<String>,
    /// A new object's zero-padded version width (`None`: `v1`, `v2`, ...).
    pub padding: Option<u8>,
    /// Stage the files symbolic links point to instead of refusing links.
    pub follow_symlinks: bool,
    /// `source` is a BagIt bag: its payload (`data/`) is the new state, checked against the
    /// bag's manifests while it is staged, and the manifests' checksums are recorded as
    /// fixity.
    pub bagit: bool,
    /// `None`: the new state is `source`'s files. Otherwise the new state is the head's
    /// changed by these edits, or an earlier version's; `source` is then not used.
    pub edits: Option<Edits>,
    /// The work-area directory where [`crate::stage_in_work_area`] put the stage and the new
    /// content (`None`: the run's staging reads the source, on the worker's host).
    pub staged: Option<String>,
}

/// A new state given as changes to the object's recorded states rather than a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edits {
    /// The head version's state with these file-level edits (`ocfl commit ID --add ...`,
    /// `ocfl put`); only the files they add are read. On an object that does not exist yet,
    /// they apply to an empty state.
    Changes(Vec<Edit>),
    /// The state of this version of the object (`ocfl revert ID VERSION`): no file is read.
    Revert(String),
    /// The head's state unchanged, in a new version of the object written as
    /// [`CommitRequest::spec_version`] (`ocfl upgrade`): no file is read. Recorded without
    /// the head, so the same upgrade maps to the same run whatever version it has reached.
    Upgrade,
}

impl CommitRequest {
    /// A request with defaults for everything but the object id and the source.
    pub fn new(object_id: impl Into<String>, source: impl Into<PathBuf>) -> CommitRequest {
        CommitRequest {
            object_id: object_id.into(),
            source: source.into(),
            message: None,
            user_name: None,
            user_address: None,
            created: None,
            spec_version: None,
            digest_algorithm: None,
            new_object_digest: None,
            fixity: Vec::new(),
            content_directory: None,
            padding: None,
            follow_symlinks: false,
            bagit: false,
            edits: None,
            staged: None,
        }
    }

    /// A request for the object's head state changed by `edits`.
    pub fn edit(object_id: impl Into<String>, edits: Vec<Edit>) -> CommitRequest {
        let mut request = CommitRequest::new(object_id, PathBuf::new());
        request.edits = Some(Edits::Changes(edits));
        request
    }

    /// A request for a new version holding the state of the object's `version`.
    pub fn revert(object_id: impl Into<String>, version: impl Into<String>) -> CommitRequest {
        let mut request = CommitRequest::new(object_id, PathBuf::new());
        request.edits = Some(Edits::Revert(version.into()));
        request
    }

    /// A request for a new version of the object with the head's state, written as OCFL
    /// `spec_version` (its declaration and inventory type), as the 1.1 specification
    /// describes an upgrade.
    pub fn upgrade(object_id: impl Into<String>, spec_version: SpecVersion) -> CommitRequest {
        let mut request = CommitRequest::new(object_id, PathBuf::new());
        request.edits = Some(Edits::Upgrade);
        request.spec_version = Some(spec_version);
        request
    }

    /// Sets the version message.
    pub fn message(mut self, message: impl Into<String>) -> CommitRequest {
        self.message = Some(message.into());
        self
    }

    /// Sets the version's user.
    pub fn user(mut self, name: impl Into<String>, address: Option<String>) -> CommitRequest {
        self.user_name = Some(name.into());
        self.user_address = address;
        self
    }

    /// Sets the version's creation time.
    pub fn created(mut self, created: DateTime<FixedOffset>) -> CommitRequest {
        self.created = Some(created);
        self
    }
}

/// How runs execute. Recorded in each run's input when it starts, so a resumed run keeps the
/// settings it started with (its orchestration replays with them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuning {
    /// At most this many content copies per activity.
    pub batch_files: u32,
    /// At most this many bytes of content per activity (a larger file gets one of its own).
    pub batch_bytes: u64,
    /// Copy activities in flight at once.
    pub copy_concurrency: u32,
    /// Attempts of an activity that fails with a transient error, before the run stalls.
    pub retry_attempts: u32,
    /// Wait before the second attempt (milliseconds); doubles per attempt.
    pub retry_first_interval_ms: u64,
    /// Longest wait between attempts (milliseconds).
    pub retry_max_interval_ms: u64,
    /// How the new version is checked once it is in place.
    pub verify: Verify,
}

impl Default for Tuning {
    /// 256 files or 64 MiB per copy batch, 4 batches in flight, 6 attempts from 1 s to 60 s,
    /// the new version's structure checked after the update. (Its new content is not read
    /// back: every content file was hashed as it was written, or re-hashed where an earlier
    /// attempt left it, before the version was flushed and moved in; reading it back from the
    /// page cache would only hash the same bytes again.)
    fn default() -> Tuning {
        Tuning {
            batch_files: 256,
            batch_bytes: 64 << 20,
            copy_concurrency: 4,
            retry_attempts: 6,
            retry_first_interval_ms: 1_000,
            retry_max_interval_ms: 60_000,
            verify: Verify::Structure,
        }
    }
}

impl Tuning {
    /// The settings for a root in an object store: 32 files or 8 MiB per copy batch, 16
    /// batches in flight, the rest as [`Tuning::default`]. There a batch uploads its files one
    /// request at a time, so the batches in flight are the requests in flight (the store's own
    /// limit is 16), and small batches keep them all busy to the end of the copies; an
    /// activity's completion costs less than the requests it waits for. The store bounds the
    /// memory the uploads hold together (`ocfl_object_store::S3Builder::upload_memory`).
    pub fn object_store() -> Tuning {
        Tuning {
            batch_files: 32,
            batch_bytes: 8 << 20,
            copy_concurrency: 16,
            ..Tuning::default()
        }
    }

    /// Sets the retry schedule: `attempts` attempts, waits from `first` doubling to `max`.
    pub fn retry(mut self, attempts: u32, first: Duration, max: Duration) -> Tuning {
        self.retry_attempts = attempts.max(1);
        self.retry_first_interval_ms = u64::try_from(first.as_millis()).unwrap_or(u64::MAX);
        self.retry_max_interval_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// How thoroughly the object is validated after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    /// Structure only: inventories, sidecars, every listed file present; no content read.
    Structure,
    /// Structure, and the digest of every content file this update wrote, read back.
    NewContent,
    /// Structure and the digest of every content file of every version.
    Full,
}

/// The input of an update run, as recorded in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunInput {
    /// The run id (also the instance id).
    pub run: String,
    /// The storage root, as given to the service (for people and for checking the worker's).
    pub root: String,
    /// What to do.
    pub command: Command,
    /// How.
    pub tuning: Tuning,
}

/// A commit request in recorded form: text for every value, paths made absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Command {
    pub object_id: String,
    pub source: String,
    pub message: Option<String>,
    pub user_name: Option<String>,
    pub user_address: Option<String>,
    pub created: Option<String>,
    pub spec_version: Option<String>,
    pub digest_algorithm: Option<String>,
    /// Left out when unset, so the command key (and run id) of a command without it is
    /// what it was before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_object_digest: Option<String>,
    pub fixity: Vec<String>,
    pub content_directory: Option<String>,
    pub padding: Option<u8>,
    pub follow_symlinks: bool,
    /// Left out unless set, so the command key of a commit of a plain directory is what it
    /// was before the field existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bagit: bool,
    /// Left out for a commit of a source directory, so its command key is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edits: Option<EditsForm>,
    /// The work-area directory holding the run's stage and new content, uploaded before the
    /// run was submitted (`docs/durability.md` 11.6); left out when staging reads the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
}

/// [`Edits`] in recorded form: added sources absolute and UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EditsForm {
    Changes {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<(String, String)>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "move")]
        moves: Vec<(String, String)>,
    },
    Revert {
        version: String,
    },
    Upgrade,
}

impl EditsForm {
    /// The edits to apply (for [`EditsForm::Changes`]).
    pub fn edits(&self) -> Vec<Edit> {
        let EditsForm::Changes { add, remove, moves } = self else {
            return Vec::new();
        };
        let removes = remove
            .iter()
            .map(|path| Edit::Remove { path: path.clone() });
        let moves = moves.iter().map(|(from, to)| Edit::Move {
            from: from.clone(),
            to: to.clone(),
        });
        let adds = add.iter().map(|(source, dest)| Edit::Add {
            source: PathBuf::from(source),
            dest: dest.clone(),
        });
        removes.chain(moves).chain(adds).collect()
    }
}

impl Command {
    /// The content digest algorithm asked for: the explicit one, else for a new object
    /// (`exists` false) the new-object default; `None` leaves it to the object (or sha512).
    pub fn digest_for(&self, exists: bool) -> Option<&str> {
        match (&self.digest_algorithm, exists) {
            (Some(name), _) => Some(name),
            (None, false) => self.new_object_digest.as_deref(),
            (None, true) => None,
        }
    }

    /// The recorded form of `request`, whose source is `source` (absolute, UTF-8) and whose
    /// edits are `edits`.
    pub fn new(request: &CommitRequest, source: String, edits: Option<EditsForm>) -> Command {
        Command {
            object_id: request.object_id.clone(),
            source,
            message: request.message.clone(),
            user_name: request.user_name.clone(),
            user_address: request.user_address.clone(),
            created: request
                .created
                .map(|c| c.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            spec_version: request.spec_version.map(|v| v.as_str().to_owned()),
            digest_algorithm: request.digest_algorithm.map(|a| a.name().to_owned()),
            // sha512 is what `None` means: recorded alike, so both map to the same runs.
            new_object_digest: request
                .new_object_digest
                .filter(|a| *a != DigestAlgorithm::Sha512)
                .map(|a| a.name().to_owned()),
            fixity: request.fixity.iter().map(|a| a.name().to_owned()).collect(),
            content_directory: request.content_directory.clone(),
            padding: request.padding,
            follow_symlinks: request.follow_symlinks,
            bagit: request.bagit,
            edits,
            staged: request.staged.clone(),
        }
    }
}

/// The instance id of the lock of an object: at most one run per object is active because
/// this instance, which runs the update as its sub-orchestration, can only be created while
/// no earlier one is running.
pub(crate) fn lock_id(object_key: &str) -> String {
    format!("object-{object_key}")
}

/// What every run id starts with.
pub(crate) const RUN_ID_PREFIX: &str = "commit-";

/// The prefix of the ids of every run of one command on one object.
pub(crate) fn run_prefix(object_key: &str, command_key: &str) -> String {
    format!("{RUN_ID_PREFIX}{object_key}-{command_key}-")
}

/// Identifies an object across runs: its storage root and its id.
pub(crate) fn object_key(root: &Path, object_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(root.as_os_str().as_encoded_bytes());
    hasher.update([0]);
    hasher.update(object_id.as_bytes());
    hex::encode(&hasher.finalize()[..6])
}

/// Identifies a command: everything the request says (its serialized form), so the same
/// `ocfl commit` typed again maps to the same runs.
pub(crate) fn command_key(command: &Command) -> String {
    let text = serde_json::to_string(command).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}
