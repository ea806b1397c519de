//! The command line as clap parses it: global options and one struct per command.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use ocfl_core::SpecVersion;
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::layout::{self, Layout, LayoutError};

/// Create and validate OCFL (Oxford Common File Layout) storage roots and objects.
#[derive(Debug, Parser)]
#[command(
    name = "ocfl",
    version,
    after_help = "Examples:\n  \
        ocfl --root /archive init\n  \
        ocfl --root /archive validate\n  \
        ocfl --root /archive validate ark:/12345/bcd987\n  \
        ocfl validate --json ./some/object/dir\n\n\
        Exit status: 0 success; 1 the operation failed or something is invalid; 2 bad usage."
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
    /// The OCFL storage root directory.
    #[arg(long, global = true, env = "OCFL_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print machine-readable JSON (one object per line) on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print less: no progress or summary on stderr, only what failed.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// A command line mistake found after parsing (exit status 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl GlobalArgs {
    /// The storage root, or a usage error that starts with `why` (what needed it).
    pub fn require_root(&self, why: &str) -> Result<&Path, UsageError> {
        self.root.as_deref().ok_or_else(|| {
            UsageError(format!(
                "{why} needs a storage root: pass --root DIR or set OCFL_ROOT"
            ))
        })
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty storage root at --root.
    ///
    /// The directory must not exist or be empty. The root declares the OCFL specification
    /// version and records its storage layout (how object ids map to directories) in
    /// ocfl_layout.json and extensions/<layout>/config.json.
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
    /// The content digest algorithm for objects committed to this root later (sha512 or
    /// sha256). Only checked for now: it takes effect with the `commit` command, which
    /// is not part of this release and will take it as its own default.
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
}
