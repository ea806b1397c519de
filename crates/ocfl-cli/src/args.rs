//! The command line as clap parses it: global options and one struct per command.
// The doc comments below are the `--help` text, written for a terminal (`<root>`,
// `[:PORT]`), not for rustdoc.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::layout::{self, Layout, LayoutError};
use ocfl_core::location::Location;
use ocfl_core::version_num::VersionNum;

/// Create, validate, update, read and manage OCFL (Oxford Common File Layout) storage roots
/// and objects.
#[derive(Debug, Parser)]
#[command(
    name = "ocfl",
    version,
    after_help = "Examples:\n  \
        ocfl example\n  \
        ocfl --root /archive init\n  \
        ocfl --root /archive commit ark:/12345/bcd987 ./deposit --message 'Initial deposit'\n  \
        ocfl --root /archive runs --all\n  \
        ocfl --root /archive validate\n  \
        ocfl --root /archive validate ark:/12345/bcd987\n  \
        ocfl validate --json ./some/object/dir\n  \
        ocfl --root /archive ls\n  \
        ocfl --root /archive log ark:/12345/bcd987\n  \
        ocfl --root /archive cat ark:/12345/bcd987 foo/bar.xml > bar.xml\n\n\
        Exit status: 0 success; 1 the operation failed or something is invalid (also: an\n\
        s3:// root for a command that does not support it yet); 2 bad usage (an unknown URL\n\
        scheme too)."
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The OCFL storage root: a directory, or a URL (file:///PATH; s3://BUCKET/PREFIX for
    /// validate, ls, log, show, diff, cat, export and info, configured the AWS way:
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP,
    /// AWS_CA_BUNDLE). An argument containing "://" is always a URL: other schemes are
    /// refused, never taken for a local path.
    #[arg(long, global = true, env = "OCFL_ROOT", value_name = "DIR or URL", value_parser = location_parser())]
    pub root: Option<Location>,
    /// Print machine-readable JSON (one object per line) on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print less: no progress or summary on stderr, only what failed.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail on stderr (and engine logs; RUST_LOG chooses them finely).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Where runs stage files and keep their data, outside the storage root (a directory, or
    /// a URL as for --root). Default: <root>.ocfl-work/ beside a local root (a root that is
    /// a mount point stages inside itself, in extensions/ocfl-work/); s3://BUCKET/PREFIX.ocfl-work/
    /// for an S3 root, where a root at the top of a bucket must choose one.
    #[arg(long, global = true, env = "OCFL_WORK_AREA", value_name = "DIR or URL", value_parser = location_parser())]
    pub work_area: Option<Location>,
    /// The engine's store (one file). Default for a local root: state.redb in the work area
    /// (<root>.ocfl-work/state.redb), where OCFL validators do not look. For an S3 root: a
    /// local file, $XDG_STATE_HOME/ocfl/<bucket>-<prefix>-<hash>/state.redb (without
    /// XDG_STATE_HOME, under ~/.local/state/), the hash taken over the endpoint
    /// (AWS_ENDPOINT_URL, or AWS), bucket and prefix.
    #[arg(long, global = true, env = "OCFL_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// How long to wait for another ocfl process to release the engine's store (default:
    /// as long as it takes; 0: fail at once).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// The engine's store as a URL: postgres://USER:PASSWORD@HOST[:PORT]/DATABASE selects a
    /// PostgreSQL database shared by `ocfl worker` processes on many hosts. Default: the
    /// embedded store (see --state).
    #[arg(
        long,
        global = true,
        env = "OCFL_BACKEND",
        value_name = "URL",
        hide_env_values = true
    )]
    pub backend: Option<String>,
    /// Lease length of this process's worker, in seconds (default: 30 for orchestration
    /// episodes, 60 for activities): how long work held by a worker that died waits before
    /// another worker takes it over. Leases are renewed every third of it while work runs.
    #[arg(
        long,
        global = true,
        env = "OCFL_LEASE_SECONDS",
        value_name = "SECONDS",
        value_parser = parse_lease,
        hide = true
    )]
    pub lease_seconds: Option<f64>,
    /// How long finished runs (completed, failed, terminated) are kept in the engine's store
    /// before the worker of this process purges them: a duration such as 30d, 12h, 90m, or
    /// "forever". `ocfl runs purge` purges on demand.
    #[arg(
        long,
        global = true,
        env = "OCFL_RETENTION",
        value_name = "DURATION",
        default_value = "30d",
        value_parser = parse_retention
    )]
    pub retention: Retention,
    /// Check every page of the embedded store against its checksum when opening it (reads
    /// the whole file; by default only what a command needs is read, each page checked as
    /// redb reads it).
    #[arg(long, global = true, env = "OCFL_VERIFY_STORE")]
    pub verify_store: bool,
}

/// How long finished runs are kept (`--retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Purged once older than this.
    For(Duration),
    /// Never purged by a worker.
    Forever,
}

/// A command line mistake found after parsing (exit status 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `--root` and `--work-area` values: see [`Location::parse`].
fn location_parser() -> impl TypedValueParser<Value = Location> {
    clap::builder::OsStringValueParser::new().try_map(|text| Location::parse(&text))
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty storage root at --root.
    ///
    /// The directory must not exist or be empty. The root declares the OCFL specification
    /// version and records its storage layout (how object ids map to directories) in
    /// ocfl_layout.json and, for a layout with parameters, extensions/<layout>/config.json.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive init\n  \
        ocfl --root /archive init --layout 0002-flat-direct-storage-layout --spec 1.0\n  \
        ocfl --root /archive init --layout 0007-n-tuple-omit-prefix-storage-layout \\\n      \
        --layout-config my-0007-config.json")]
    Init(InitArgs),
    /// Validate the whole storage root, one object by id, or one object directory.
    ///
    /// With no argument, validates the storage root at --root and every object in it.
    /// An argument naming an existing directory validates the object (or storage root) in
    /// that directory; any other argument is an object id, found through the layout of the
    /// storage root at --root. Results go to stdout, one line per object followed by its
    /// findings (the specification's codes, E... errors and W... warnings); the summary goes
    /// to stderr. Exits 1 if anything is invalid.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive validate\n  \
        ocfl --root /archive validate 'ark:/12345/bcd987' --no-fixity\n  \
        ocfl validate --json /archive/3c0/ff4/240/3c0ff4...\n\n\
        --json prints one line per object: {\"path\": ..., \"id\": ... or null, \"valid\": true/false,\n\
        \"errors\": [{\"code\": \"E040\", \"message\": ...}], \"warnings\": [...]}, and for a storage\n\
        root one more line whose path is the root, holding the root-level findings.")]
    Validate(ValidateArgs),
    /// List the objects of the storage root, or the files of one object's version.
    ///
    /// Without an id: every object found in the storage root, one id per line (sorted; -v
    /// adds the head version and the object's directory). Objects whose inventory cannot be
    /// read are reported on stderr and make the exit status 1.
    /// With an id: the logical paths of the head version, or of --version (-v adds each
    /// file's digest); only those matching one of the PATTERNs when given (globs: `*` and
    /// `?` stay within one path element, `**` spans any number, `{a,b}` and `[abc]` as in a
    /// shell). --long adds each file's size, digest and the version that last changed it.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive ls\n  \
        ocfl --root /archive ls ark:/12345/bcd987\n  \
        ocfl --root /archive ls ark:/12345/bcd987 'data/**/*.tif' --long\n  \
        ocfl --root /archive ls ark:/12345/bcd987 --version v1 --json\n\n\
        --json prints one line per object: {\"id\": ..., \"head\": \"v3\", \"path\": ...}, or per file:\n\
        {\"path\": ..., \"digest\": ..., \"content_path\": ...}, with --long also \"size\" (bytes) and\n\
        \"changed\" (the version that last changed the file, e.g. \"v2\").")]
    Ls(LsArgs),
    /// Show an object's versions, newest first: number, creation time, user, message.
    ///
    /// With PATH, only the versions that changed that logical path (added it, changed its
    /// content or removed it), each line starting with the change.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive log ark:/12345/bcd987\n  \
        ocfl --root /archive log ark:/12345/bcd987 data/report.pdf\n  \
        ocfl --root /archive log --json ark:/12345/bcd987\n\n\
        --json prints one line per version: {\"version\": \"v3\", \"created\": ..., \"message\": ... or null,\n\
        \"user\": {\"name\": ..., \"address\": ... or null} or null}; with PATH also \"path\",\n\
        \"change\" (\"added\", \"modified\" or \"removed\") and \"digest\" (null once removed).")]
    Log(LogArgs),
    /// Show one version of an object: its metadata and its files.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive show ark:/12345/bcd987\n  \
        ocfl --root /archive show ark:/12345/bcd987 --version v1 --json\n\n\
        --json prints one line: {\"id\", \"version\", \"head\": true/false, \"created\", \"message\",\n\
        \"user\", \"files\": [{\"path\", \"digest\", \"content_path\"}]}.")]
    Show(ShowArgs),
    /// Show what changed from one version of an object to another.
    ///
    /// One line per change: A added, D removed, M modified (same path, other content),
    /// R renamed (content gone from one path and present at another). The exit status is 0
    /// whether or not the versions differ; a summary goes to stderr.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive diff ark:/12345/bcd987 v1 v3\n  \
        ocfl --root /archive diff --json ark:/12345/bcd987 v2 v3\n\n\
        --json prints one line per change: {\"change\": \"added\"/\"removed\", \"path\", \"digest\"},\n\
        {\"change\": \"modified\", \"path\", \"old_digest\", \"digest\"} or\n\
        {\"change\": \"renamed\", \"path\", \"old_path\", \"digest\"}.")]
    Diff(DiffArgs),
    /// Write one file of an object to standard output, verifying its digest.
    ///
    /// The bytes are streamed as they are read and checked against the inventory's digest;
    /// if they do not match, the exit status is 1 and stderr says that what was written is
    /// corrupt.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive cat ark:/12345/bcd987 foo/bar.xml\n  \
        ocfl --root /archive cat ark:/12345/bcd987 image.tiff --version v1 > image.tiff")]
    Cat(CatArgs),
    /// Write every file of an object's version into a new directory.
    ///
    /// DEST must not exist or be an empty directory (unless --force); its parent must
    /// exist. Files are written into a hidden directory beside DEST, each verified against
    /// its digest, and that directory becomes DEST only once every file is complete: on
    /// failure nothing is left behind. With --force, an existing DEST is written into: each
    /// verified file then replaces the one at its path, by rename.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive export ark:/12345/bcd987 ./bcd987\n  \
        ocfl --root /archive export ark:/12345/bcd987 ./bcd987-v1 --version v1\n  \
        ocfl --root /archive export ark:/12345/bcd987 ./bcd987 --force\n\n\
        --json prints one line: {\"id\", \"version\", \"dest\", \"files\", \"bytes\"}.")]
    Export(ExportArgs),
    /// Delete an object, with every version, from the storage root (asks for --yes).
    ///
    /// The object directory is first moved out of the storage root in one step (into
    /// <root>.ocfl-work/ beside it), then the layout directories left empty are removed and
    /// the moved copy is deleted, so readers never see half an object and the root stays
    /// valid. Running the same purge again after an interruption finishes it.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive purge ark:/12345/bcd987 --yes\n\n\
        --json prints one line: {\"id\", \"path\", \"outcome\": \"removed\" or \"finished-interrupted\"}.")]
    Purge(PurgeArgs),
    /// Make an object hold exactly the files of a directory, as a new version, durably.
    ///
    /// Stages SRC_DIR (walks it, computes digests), plans the new version against the
    /// object's inventory (new content only for digests the object lacks), and runs the plan
    /// as a durable run recorded in the engine's store (see --state): a crash, kill or power
    /// cut at any instant loses nothing. Running the same command again resumes an
    /// interrupted run; after success it reports that the object already holds that state.
    /// A commit to an object that another run is updating is refused, naming that run.
    /// Progress goes to stderr; stdout has only the --json line.
    ///
    /// The run executes in this process (with --backend postgres://..., `ocfl worker`
    /// processes may take part). With --detach the command only submits the run and prints
    /// its id: on PostgreSQL the workers run it; on the embedded store it waits for `ocfl
    /// worker`, `ocfl resume` or this command again.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive commit ark:/12345/bcd987 ./deposit --message 'Initial deposit'\n  \
        ocfl --root /archive commit ark:/12345/bcd987 ./deposit --user-name 'A. Archivist' \\\n      \
        --user-address mailto:archivist@example.org --created 2024-05-01T12:00:00Z --json\n  \
        ocfl --root /archive --backend postgres://ocfl:secret@db/ocfl commit ark:/1/x ./x --detach\n\n\
        --json prints one line when the run completes:\n\
        {\"id\", \"version\", \"steps\", \"bytes\", \"run\", \"changed\": true/false};\n\
        with --detach, when the run is submitted: {\"run\", \"id\", \"detached\": true}.")]
    Commit(CommitArgs),
    /// Add one file to an object, read from standard input, as a new version, durably.
    ///
    /// The same run as `ocfl commit ID --add FILE PATH`: the object's other files come from
    /// its inventory and are not read. The bytes are first kept in the root's work area
    /// (<root>.ocfl-work/put/), named by their digest, until the run completes, so an
    /// interrupted put resumes with `ocfl resume` or the same command with the same input.
    #[command(after_help = "Examples:\n  \
        echo 'corrected' | ocfl --root /archive put ark:/12345/bcd987 data/notes.txt -m 'Fix notes'\n\n\
        --json prints one line when the run completes:\n\
        {\"id\", \"version\", \"steps\", \"bytes\", \"run\", \"changed\": true/false}.")]
    Put(PutArgs),
    /// Make a new version holding an earlier version's state, durably; no content is copied.
    ///
    /// The new version's inventory names the content the object already holds; nothing but
    /// the version directory, its inventory and the root inventory is written. Reverting to
    /// the head's own state changes nothing and says so.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive revert ark:/12345/bcd987 v1 -m 'Back to the deposit'\n\n\
        --json prints one line when the run completes:\n\
        {\"id\", \"version\", \"steps\", \"bytes\", \"run\", \"changed\": true/false}.")]
    Revert(RevertArgs),
    /// Remove the versions after VERSION from an object, for good (asks for --yes).
    ///
    /// The root inventory is first replaced by VERSION's own inventory (with its sidecar),
    /// then the later version directories are removed, newest first: readers see the object
    /// at its old head or at VERSION, except inside the window docs/durability.md describes,
    /// and the same command again finishes an interrupted rollback. --dry-run lists what
    /// would go. Refused while a run is updating the object.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive rollback ark:/12345/bcd987 v2 --dry-run\n  \
        ocfl --root /archive rollback ark:/12345/bcd987 v2 --yes\n\n\
        --json prints one line: {\"id\", \"version\", \"removed\": [\"v3\", ...], \"dry_run\",\n\
        \"changed\": true/false}.")]
    Rollback(RollbackArgs),
    /// Upgrade objects from OCFL 1.0 to 1.1, and the storage root's declaration, durably.
    ///
    /// The storage root's declaration becomes 0=ocfl_1.1 first (a 1.1 root may hold 1.0
    /// objects, never the reverse), then each 1.0 object (ID, or every object of the root)
    /// gets a new version with the same state, a 1.1 inventory and the 1.1 declaration, as
    /// the 1.1 specification describes; no content is copied. Each object's upgrade is a
    /// durable run like a commit (`ocfl runs` lists it; the same command or `ocfl resume`
    /// finishes an interrupted one). Objects already at 1.1 are left alone. --dry-run says
    /// what would be upgraded and changes nothing.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive upgrade --dry-run\n  \
        ocfl --root /archive upgrade\n  \
        ocfl --root /archive upgrade ark:/12345/bcd987 -m 'OCFL 1.1'\n\n\
        --json prints one line for the root: {\"root\": true, \"from\": \"1.0\" or \"1.1\", \"changed\",\n\
        \"dry_run\"}, then one per object: {\"id\", \"from\", \"version\" (its head after),\n\
        \"run\" (null when nothing ran), \"changed\", \"dry_run\"}.")]
    Upgrade(crate::upgrade::UpgradeArgs),
    /// Show the storage root's or one object's metadata.
    ///
    /// Without an id: the root's specification version, layout (with its config.json) and
    /// the digest algorithm new objects get; --count adds its number of objects and their
    /// bytes (reading every inventory and the size of every content file). With an id: the
    /// object's path, specification version, head, versions, files and bytes of the head
    /// state, digest algorithm, fixity algorithms and the extensions it holds.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive info\n  \
        ocfl --root /archive info --count --json\n  \
        ocfl --root /archive info ark:/12345/bcd987\n\n\
        --json prints one line. The root: {\"root\", \"spec\", \"layout\" (name or null),\n\
        \"layout_config\" (its config.json or null), \"digest\", \"objects\" and \"bytes\" (null\n\
        without --count)}. An object: {\"id\", \"path\", \"spec\", \"head\", \"versions\", \"files\",\n\
        \"bytes\", \"digest\", \"fixity\": [...], \"extensions\": [...]}.")]
    Info(crate::info::InfoArgs),
    /// List the update runs of the storage root: unfinished ones, or all with --all.
    ///
    /// For each run: its id, state (pending, running, stalled, suspended, completed, failed,
    /// terminated), object, progress (steps and bytes done of the total), start and end, and
    /// the error of a failed run. `ocfl runs show RUN` prints one run with its history.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive runs\n  \
        ocfl --root /archive runs --all --json\n  \
        ocfl --root /archive runs show commit-3f2a9c01d4e5-8b7a6c5d-1\n\n\
        --json prints one line per run: {\"run\", \"id\", \"state\", \"version\", \"changed\",\n\
        \"steps_done\", \"steps_total\", \"bytes_done\", \"bytes_total\", \"files\", \"source\",\n\
        \"started\", \"ended\" (RFC 3339 or null), \"error\" (or null)}.")]
    Runs(RunsArgs),
    /// Resume every interrupted run of the storage root and wait for each.
    ///
    /// Runs interrupted by a crash or a kill, stalled on a persistent error (a full disk,
    /// say) or suspended go on from where they stopped. Exits 1 if any of them fails.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive resume\n\n\
        --json prints one line per run: {\"run\", \"id\", \"version\", \"steps\", \"bytes\",\n\
        \"changed\"} or {\"run\", \"error\"}.")]
    Resume,
    /// The origin's example: commit four files to a new object and show each step.
    ///
    /// Creates example-content/ (data/file1.txt, data/file2.txt, metadata.json, readme.txt)
    /// and the storage root example-storage/ under DIR (default: the current directory) if
    /// they are missing, then commits the content to the object test:durable-task-example,
    /// printing each step as it completes and the outcome. Run it again: nothing needs doing.
    /// Its engine store is example-storage.ocfl-work/state.redb unless --state says otherwise.
    #[command(after_help = "Examples:\n  \
        ocfl example\n  \
        cargo run --release -- example /tmp/demo")]
    Example(ExampleArgs),
    /// Run update runs from the engine's store until stopped (SIGTERM or Ctrl+C).
    ///
    /// Executes the orchestrations and activities of every run of the storage root: runs
    /// submitted with `ocfl commit --detach`, interrupted ones, and the work of other
    /// workers that died (once their leases expire). With --backend postgres://..., any
    /// number of workers on any hosts that see the same storage root (and its sibling
    /// <root>.ocfl-work/) share the work; on the embedded store the worker holds the store
    /// while it runs. Each activity and episode it runs is logged on stderr (--json: one
    /// JSON object per line). On SIGTERM or SIGINT it stops fetching, gives running work
    /// --grace seconds to finish and hands back the leases of the rest.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive --backend postgres://ocfl:secret@db.example.org/ocfl worker\n  \
        ocfl --root /archive worker --concurrency 8 --grace 60\n\n\
        Log lines: 'ocfl worker PID: activity started: run=RUN task=N attempt=A name=NAME', ...\n\
        --json: {\"worker\": PID, \"event\": \"activity-started\", \"run\", \"task\", \"attempt\", \"name\"}, ...")]
    Worker(WorkerArgs),
    /// Serve a web console and a JSON API over the storage root and its runs.
    ///
    /// Pages: runs with live progress (server-sent events), each run's timeline, objects
    /// (searched by id), versions, files, diffs, downloads (digest verified) and validation
    /// reports; the JSON API is under /api/ (routes in the README). On the embedded store the
    /// console holds it and runs submitted runs as `ocfl worker` does. It listens on loopback
    /// by default; any other address needs --token, which every request must then carry (a
    /// bearer header, or the cookie of the login form). Resuming and terminating runs needs
    /// --allow-actions. The URL it serves is printed on stdout.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive serve\n  \
        ocfl --root /archive serve --listen 127.0.0.1:8081 --allow-actions\n  \
        OCFL_CONSOLE_TOKEN=... ocfl --root /archive serve --listen 0.0.0.0:8080")]
    Serve(ServeArgs),
}

impl Command {
    /// The command's name, as typed (`ls`, `commit`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Validate(_) => "validate",
            Command::Ls(_) => "ls",
            Command::Log(_) => "log",
            Command::Show(_) => "show",
            Command::Diff(_) => "diff",
            Command::Cat(_) => "cat",
            Command::Export(_) => "export",
            Command::Purge(_) => "purge",
            Command::Commit(_) => "commit",
            Command::Put(_) => "put",
            Command::Revert(_) => "revert",
            Command::Rollback(_) => "rollback",
            Command::Upgrade(_) => "upgrade",
            Command::Info(_) => "info",
            Command::Runs(_) => "runs",
            Command::Resume => "resume",
            Command::Example(_) => "example",
            Command::Worker(_) => "worker",
            Command::Serve(_) => "serve",
        }
    }
}

/// `ocfl commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The object id (the object is created if the storage root does not hold it).
    pub id: String,
    /// The directory whose files the new version holds, exactly (without it, --add,
    /// --remove and --move change the head version's state instead).
    #[arg(value_name = "SRC_DIR", required_unless_present_any = ["add", "remove", "moves"], conflicts_with_all = ["add", "remove", "moves"])]
    pub source: Option<PathBuf>,
    /// Add the file SRC at logical path DEST (replacing what is there), or a directory's
    /// files below DEST. Repeatable.
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append)]
    pub add: Vec<String>,
    /// Remove the logical path PATH (a file, or a directory with everything below it).
    /// Repeatable.
    #[arg(long, value_name = "PATH", action = clap::ArgAction::Append)]
    pub remove: Vec<String>,
    /// Rename the logical path FROM (a file or a directory) to TO, which must not exist.
    /// Repeatable.
    #[arg(long = "move", id = "moves", num_args = 2, value_names = ["FROM", "TO"], action = clap::ArgAction::Append)]
    pub moves: Vec<String>,
    /// The version's message.
    #[arg(long, short = 'm', value_name = "M")]
    pub message: Option<String>,
    /// The version's user name.
    #[arg(long, value_name = "N")]
    pub user_name: Option<String>,
    /// The version's user address (a URI, e.g. mailto:a@example.org); needs --user-name.
    #[arg(long, value_name = "A", requires = "user_name")]
    pub user_address: Option<String>,
    /// The version's creation time, RFC 3339 (default: when the run started).
    #[arg(long, value_name = "RFC3339", value_parser = parse_created)]
    pub created: Option<DateTime<FixedOffset>>,
    /// Stage the files symbolic links point to, instead of refusing links.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Record these digests of the new content in the inventory's fixity block, computed in
    /// the same read as the content digest: any of md5, sha1, sha256, sha512, blake2b-512,
    /// blake2b-384, blake2b-256, blake2b-160, sha512/256, size (extension 0009), blake3.
    #[arg(long, value_name = "ALG,...", value_delimiter = ',', value_parser = crate::fixity::parse_algorithm)]
    pub fixity: Vec<DigestAlgorithm>,
    /// SRC_DIR is a BagIt bag: its payload (data/) becomes the new version's content, checked
    /// against the bag's manifests while it is staged, and the manifests' checksums are
    /// recorded as fixity.
    #[arg(long, requires = "source")]
    pub bagit: bool,
    /// Submit the run and return at once, printing its id: `ocfl worker` processes (or,
    /// on the embedded store, `ocfl resume`, `ocfl worker` or this command again) run it.
    #[arg(long)]
    pub detach: bool,
}

/// What a new version records about itself.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// The version's message.
    #[arg(long, short = 'm', value_name = "M")]
    pub message: Option<String>,
    /// The version's user name.
    #[arg(long, value_name = "N")]
    pub user_name: Option<String>,
    /// The version's user address (a URI, e.g. mailto:a@example.org); needs --user-name.
    #[arg(long, value_name = "A", requires = "user_name")]
    pub user_address: Option<String>,
    /// The version's creation time, RFC 3339 (default: when the run started).
    #[arg(long, value_name = "RFC3339", value_parser = parse_created)]
    pub created: Option<DateTime<FixedOffset>>,
}

/// `ocfl put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The object id (the object is created if the storage root does not hold it).
    pub id: String,
    /// The logical path the bytes read from standard input get.
    #[arg(value_name = "PATH")]
    pub path: String,
    #[command(flatten)]
    pub version: VersionArgs,
}

/// `ocfl revert`.
#[derive(Debug, Args)]
pub struct RevertArgs {
    /// The object id.
    pub id: String,
    /// The version whose state the new version holds.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub version: VersionNum,
    #[command(flatten)]
    pub about: VersionArgs,
}

/// `ocfl rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The object id.
    pub id: String,
    /// The version that becomes the head again; every later version is removed.
    #[arg(value_name = "VERSION", value_parser = parse_version)]
    pub version: VersionNum,
    /// Confirm: remove the later versions for good.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `ocfl worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Activities (and orchestration episodes) run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// After SIGTERM or SIGINT, how long running work gets to finish before its leases are
    /// handed back to other workers.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub grace: u64,
}

/// `ocfl serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The token every request must carry (required on a non-loopback address).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "OCFL_CONSOLE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Offer the actions that change runs: resume a stalled run, terminate a run.
    #[arg(long)]
    pub allow_actions: bool,
}

/// `ocfl runs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// List finished runs too (completed, failed, terminated).
    #[arg(long)]
    pub all: bool,
    /// List at most N runs, in run id order (without it: every run, oldest first); with
    /// --json a last line {"next": CURSOR or null} gives the --after of the next page.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Start after this run id (the cursor a page printed), in run id order.
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// `show RUN`, `purge`.
    #[command(subcommand)]
    pub show: Option<RunsCommand>,
}

/// `ocfl runs show`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run: its state and progress, then its event history.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive runs show commit-3f2a9c01d4e5-8b7a6c5d-1\n  \
        ocfl --root /archive runs show --json commit-3f2a9c01d4e5-8b7a6c5d-1\n\n\
        --json prints one line: the run (as `ocfl runs --json`) with \"events\": [...], each\n\
        event an object whose \"type\" names it (execution_started, activity_completed, ...).")]
    Show(RunsShowArgs),
    /// Delete finished runs older than --older-than from the engine's store, with whatever
    /// they left in the work area, then give the embedded store's free space back.
    ///
    /// Unfinished runs (pending, running, stalled, suspended) are never purged. The worker
    /// of every ocfl process purges runs past --retention (default 30d) on its own; this
    /// does it now. With --backend, the runs of every root in the database are purged.
    #[command(after_help = "Examples:\n  \
        ocfl --root /archive runs purge\n  \
        ocfl --root /archive runs purge --older-than 12h --json\n  \
        ocfl --root /archive runs purge --older-than 0s\n\n\
        DURATION: a number and a unit (s, m, h, d, w), or several (1d 12h).\n\
        --json prints one line: {\"purged\": N, \"runs\": [RUN, ...], \"store_bytes_before\",\n\
        \"store_bytes_after\"} (the sizes for the embedded store, else null).")]
    Purge(RunsPurgeArgs),
}

/// `ocfl runs purge`.
#[derive(Debug, Args)]
pub struct RunsPurgeArgs {
    /// Purge the runs that finished longer ago than this (30d, 12h, 90m, 0s: every
    /// finished run).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    pub older_than: Duration,
}

/// `ocfl runs show`.
#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run id (from `ocfl runs`).
    pub run: String,
}

/// `ocfl example`.
#[derive(Debug, Args)]
pub struct ExampleArgs {
    /// Where to create example-storage/ and example-content/.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `ocfl init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The storage layout extension.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "0004-hashed-n-tuple-storage-layout",
        value_parser = parse_layout_name,
        long_help = layout_help(),
    )]
    pub layout: String,
    /// The layout's config.json (its parameters); without it the layout's defaults apply.
    #[arg(long, value_name = "FILE")]
    pub layout_config: Option<PathBuf>,
    /// The OCFL specification version the root declares.
    #[arg(long, value_name = "VERSION", default_value = "1.1", value_parser = parse_spec_version)]
    pub spec: SpecVersion,
    /// The content digest algorithm (sha512 or sha256) `commit` gives new objects in this
    /// root, recorded in the root's ocfl-cli.json; existing objects keep their own.
    #[arg(long, value_name = "ALGORITHM", default_value = "sha512", value_parser = parse_content_digest)]
    pub digest: DigestAlgorithm,
}

/// `ocfl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// An object id (mapped through the layout of --root) or an object directory; omit to
    /// validate the whole storage root.
    #[arg(value_name = "ID or PATH")]
    pub target: Option<String>,
    /// Skip recomputing content digests and fixity values (much faster; structure,
    /// inventories and sidecars are still checked).
    #[arg(long)]
    pub no_fixity: bool,
}

/// `ocfl ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The object id; omit to list the objects of the storage root.
    pub id: Option<String>,
    /// The version to list (default: the head), e.g. v2.
    #[arg(long, value_name = "vN", value_parser = parse_version, requires = "id")]
    pub version: Option<VersionNum>,
    #[command(flatten)]
    pub head: crate::mutable_head::MutableHeadArg,
    /// List only the files matching one of these glob patterns (quote them from the shell).
    #[arg(value_name = "PATTERN", requires = "id")]
    pub patterns: Vec<String>,
    /// Add each file's size, digest and the version that last changed it.
    #[arg(long, short = 'l', requires = "id")]
    pub long: bool,
}

/// `ocfl log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The object id.
    pub id: String,
    /// A logical path: list only the versions that changed it.
    pub path: Option<String>,
}

/// `ocfl show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The object id.
    pub id: String,
    /// The version to show (default: the head), e.g. v2.
    #[arg(long, value_name = "vN", value_parser = parse_version)]
    pub version: Option<VersionNum>,
    #[command(flatten)]
    pub head: crate::mutable_head::MutableHeadArg,
}

/// `ocfl diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The object id.
    pub id: String,
    /// The version to compare from, e.g. v1.
    #[arg(value_name = "vA", value_parser = parse_version)]
    pub from: VersionNum,
    /// The version to compare to, e.g. v3.
    #[arg(value_name = "vB", value_parser = parse_version)]
    pub to: VersionNum,
}

/// `ocfl cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The object id.
    pub id: String,
    /// The file's logical path in the version, e.g. data/report.pdf.
    pub path: String,
    /// The version to read from (default: the head), e.g. v2.
    #[arg(long, value_name = "vN", value_parser = parse_version)]
    pub version: Option<VersionNum>,
    #[command(flatten)]
    pub head: crate::mutable_head::MutableHeadArg,
}

/// `ocfl export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The object id.
    pub id: String,
    /// The directory to create (or an empty one to fill).
    pub dest: PathBuf,
    /// The version to export (default: the head), e.g. v2.
    #[arg(long, value_name = "vN", value_parser = parse_version)]
    pub version: Option<VersionNum>,
    /// Write into DEST even if it holds files, replacing those at the exported paths
    /// (links in DEST are replaced, never written through; other files stay).
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Write DEST as a BagIt bag: the files below data/, manifest-ALG.txt from the
    /// inventory's digests, bagit.txt, bag-info.txt and tagmanifest-ALG.txt.
    #[arg(long, conflicts_with = "force")]
    pub bagit: bool,
    #[command(flatten)]
    pub head: crate::mutable_head::MutableHeadArg,
}

/// `ocfl purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The object id.
    pub id: String,
    /// Confirm: delete the object and every version of it, for good.
    #[arg(long, short = 'y', visible_alias = "force")]
    pub yes: bool,
}

/// A lease length in seconds: positive and at most a day.
fn parse_lease(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err("expected a number of seconds, more than 0 and at most 86400".to_owned()),
    }
}

/// A duration such as `30d`, `12h`, `90m`, `0s` or `1d 12h` (humantime's syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("expected a duration such as 30d, 12h, 90m or 0s ({e})"))
}

/// `--retention`: a duration, or `forever`.
fn parse_retention(text: &str) -> Result<Retention, String> {
    if text.trim().eq_ignore_ascii_case("forever") {
        return Ok(Retention::Forever);
    }
    parse_duration(text).map(Retention::For)
}

/// An RFC 3339 time with its offset (`2024-05-01T12:00:00Z`).
fn parse_created(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("expected an RFC 3339 time such as 2024-05-01T12:00:00Z ({e})"))
}

/// A version name (`v3`, `v003`) or a bare number (`3`).
pub fn parse_version(text: &str) -> Result<VersionNum, String> {
    let name = if text.bytes().all(|b| b.is_ascii_digit()) {
        format!("v{text}")
    } else {
        text.to_owned()
    };
    VersionNum::parse(&name).map_err(|e| e.to_string())
}

fn layout_help() -> String {
    format!(
        "The storage layout extension: how object ids map to directories under the root. \
         One of: {}.",
        layout::EXTENSION_NAMES.join(", ")
    )
}

/// Accepts the names of the layouts we implement (a name check only: a layout whose
/// defaults are not enough, such as 0006, still needs --layout-config).
fn parse_layout_name(name: &str) -> Result<String, String> {
    match Layout::from_config(name, None) {
        Err(LayoutError::Unsupported(_)) => Err(format!(
            "unknown storage layout; expected one of: {}",
            layout::EXTENSION_NAMES.join(", ")
        )),
        _ => Ok(name.to_owned()),
    }
}

fn parse_spec_version(version: &str) -> Result<SpecVersion, String> {
    SpecVersion::parse(version).ok_or_else(|| "expected 1.0 or 1.1".to_owned())
}

fn parse_content_digest(name: &str) -> Result<DigestAlgorithm, String> {
    DigestAlgorithm::from_name(name)
        .filter(|a| a.is_content_algorithm())
        .ok_or_else(|| "expected sha512 or sha256".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn versions_are_names_or_numbers() {
        for (text, number) in [("v3", 3), ("3", 3), ("v0012", 12)] {
            assert_eq!(parse_version(text).map(VersionNum::number), Ok(number));
        }
        for bad in ["", "v", "v0", "0", "x3", "v-1", "3v"] {
            assert!(parse_version(bad).is_err(), "{bad:?}");
        }
    }
}
