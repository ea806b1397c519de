//! `cargo xtask crash commit [--root s3://BUCKET/PREFIX] [--iterations N] [--seed S]
//! [--scale crash|small|full] [--debug]`: the kill loop of `crates/ocfl-cli/tests/crash_commit.rs`
//! (or, with `--root s3://...`, of `crash_commit_s3.rs` on roots below that prefix of an
//! existing bucket) on a seeded 'mixed' profile, in release.
//!
//! Generates the profile's v1 (`bench::commit::mixed`, at a reduced scale by default so that
//! an iteration takes a second or two) and its v2 (5% of the files changed, 5% removed, as
//! many added: `bench::commit::revise`) into a scratch directory (on `/dev/shm` when there
//! is one), then runs the test over them: each iteration commits v1 then v2 to a new object
//! in a new OCFL 1.0 storage root, then a file-level change of v2 (`commit --add --remove`,
//! v3), a `revert` to v1 (v4), a `rollback` to v3 and an `upgrade` to OCFL 1.1 (v4 again),
//! killing each command (or the `ocfl resume` that follows) with
//! SIGKILL at random moments, checking the object after every kill, resuming, and checking
//! the final object, the runs and the validators (ours, rocfl and ocfl-py when installed).
//!
//! On S3 each iteration commits v1 and v2 to a new object of a new root
//! `s3://BUCKET/PREFIX/root-...`, killing `ocfl commit` (or the `ocfl resume` that follows)
//! at random moments and checking after every kill that no root inventory in the bucket names
//! content that is missing; the server and credentials come from `AWS_ENDPOINT_URL` (or
//! `OCFL_TEST_S3_ENDPOINT`) and the usual `AWS_*` variables. Both versions then also hold a
//! file of [`MULTIPART`] bytes (different in each), which `ocfl` with the smallest upload
//! memory (the test's `OCFL_S3_UPLOAD_MEMORY_MIB=1`) sends in a multipart upload of three
//! parts, so that kills land inside multipart uploads; the test counts those that did.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::bench::commit::mixed::{Mixed, SizeClass, generate_mixed};
use crate::bench::commit::revise::revise;
use crate::bench::commit::tree::write_random_file;
use crate::bench::prng::SplitMix64;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// About 12 MiB: the mix of the 'mixed' profile at a few percent of its size, with its
/// classes of small text and metadata files, images and media files all present.
const CRASH: Mixed = Mixed {
    items: 10,
    classes: [
        SizeClass {
            count: 120,
            min: 100,
            max: 16 * KIB,
            name: "text/page-{n}.txt",
        },
        SizeClass {
            count: 60,
            min: 100,
            max: 16 * KIB,
            name: "metadata/record-{n}.xml",
        },
        SizeClass {
            count: 8,
            min: 64 * KIB,
            max: 2 * MIB,
            name: "images/scan-{n}.tif",
        },
        SizeClass {
            count: 2,
            min: 2 * MIB,
            max: 4 * MIB,
            name: "media/video-{n}.mp4",
        },
    ],
};

/// The file added to both versions on S3: larger than the 16 MiB the store sends in one PUT
/// with its smallest upload memory (two 8 MiB parts), so three parts.
const MULTIPART: u64 = 20 * MIB;

/// Where that file goes in both versions.
const MULTIPART_PATH: &str = "media/multipart.bin";

/// `--scale`: the size of the 'mixed' profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scale {
    /// About 12 MiB, so that an iteration takes a second or two.
    Crash,
    /// The benchmark's small 'mixed'.
    Small,
    /// The benchmark's full 'mixed'.
    Full,
}

/// `crash commit`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kill loop on roots below this prefix of an existing bucket (`s3://BUCKET/PREFIX`).
    #[arg(long, value_name = "s3://BUCKET/PREFIX", value_parser = s3_root)]
    root: Option<String>,
    /// Iterations of the loop.
    #[arg(long, default_value = "200")]
    iterations: u64,
    /// The first seed.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// The size of the profile committed.
    #[arg(long, value_enum, default_value = "crash")]
    scale: Scale,
    /// Build the test in debug instead of release.
    #[arg(long)]
    debug: bool,
}

/// A `--root`: the kill loop on a root URL serves `s3://` only.
fn s3_root(url: &str) -> Result<String, String> {
    match url.starts_with("s3://") {
        true => Ok(url.to_owned()),
        false => Err("the kill loop on a root URL serves s3:// only".to_owned()),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args {
        root,
        iterations,
        seed,
        scale,
        debug,
    } = args;
    let release = !debug;
    let scale = match scale {
        Scale::Crash => ("crash", CRASH),
        Scale::Small => ("small", Mixed::SMALL),
        Scale::Full => ("full", Mixed::FULL),
    };
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .context("creating a scratch directory")?;
    let (v1, v2) = (scratch.path().join("v1"), scratch.path().join("v2"));
    let tree = generate_mixed(&v1, scale.1, seed).context("generating v1")?;
    let revision = revise(&v1, &v2, seed ^ 0x7632).context("generating v2")?;
    if root.is_some() {
        let mut rng = SplitMix64::new(seed ^ 0x6d70);
        for version in [&v1, &v2] {
            write_random_file(&version.join(MULTIPART_PATH), MULTIPART, &mut rng)
                .context("generating the multipart file")?;
        }
        eprintln!(
            "crash commit: {MULTIPART_PATH} of {} MiB in v1 and, changed, in v2",
            MULTIPART / MIB
        );
    }
    eprintln!(
        "crash commit: 'mixed' profile at {} scale from seed {seed}: v1 {} files, {:.1} MiB; v2 {} changed, {} added, {} removed",
        scale.0,
        tree.files,
        tree.bytes as f64 / MIB as f64,
        revision.changed.len(),
        revision.added.len(),
        revision.removed.len()
    );
    let test = if root.is_some() {
        "crash_commit_s3"
    } else {
        "crash_commit"
    };
    let mut command = super::cargo_test("ocfl-cli", test, release)?;
    if let Some(root) = &root {
        command.env("OCFL_CRASH_ROOT", root);
    }
    command
        .arg("--nocapture")
        .env("OCFL_CRASH_ITERATIONS", iterations.to_string())
        .env("OCFL_CRASH_SEED", seed.to_string())
        .env("OCFL_CRASH_V1", &v1)
        .env("OCFL_CRASH_V2", &v2);
    eprintln!(
        "crash commit: {iterations} iterations ({}) on {}",
        if release { "release" } else { "debug" },
        root.as_deref().unwrap_or("local roots")
    );
    super::run_cargo_test(command)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_crash_scale_is_a_small_mixed_profile() {
        // Expected size from the class ranges (uniform draws): 8-16 MiB, every class present.
        let expected: u64 = CRASH
            .classes
            .iter()
            .map(|c| c.count as u64 * (c.min + c.max) / 2)
            .sum();
        assert!((8 * MIB..=16 * MIB).contains(&expected), "{expected}");
        assert!(CRASH.classes.iter().all(|c| c.count > 0));
    }

    #[test]
    fn the_root_must_be_an_s3_url() {
        let args = crate::parse_args::<Args>(&["--root", "s3://bucket/prefix"]).unwrap();
        assert_eq!(args.root.as_deref(), Some("s3://bucket/prefix"));
        assert!(crate::parse_args::<Args>(&["--root", "/tmp/root"]).is_err());
        let args = crate::parse_args::<Args>(&[]).unwrap();
        assert_eq!(
            (args.iterations, args.seed, args.scale),
            (200, 0, Scale::Crash)
        );
    }
}
