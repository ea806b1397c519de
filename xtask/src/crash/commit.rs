//! `cargo xtask crash commit [--iterations N] [--seed S] [--scale crash|small|full]
//! [--debug]`: the kill loop of `crates/ocfl-cli/tests/crash_commit.rs` on a seeded 'mixed'
//! profile, in release.
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

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::bench::commit::mixed::{Mixed, SizeClass, generate_mixed};
use crate::bench::commit::revise::revise;

const USAGE: &str = "usage: cargo xtask crash commit [--iterations N] [--seed S] [--scale crash|small|full] [--debug]";

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

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let (mut iterations, mut seed, mut release) = (200u64, 0u64, true);
    let mut scale = ("crash", CRASH);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--iterations" => iterations = number(arg, value()?)?,
            "--seed" => seed = number(arg, value()?)?,
            "--scale" => {
                scale = match value()?.as_str() {
                    "crash" => ("crash", CRASH),
                    "small" => ("small", Mixed::SMALL),
                    "full" => ("full", Mixed::FULL),
                    other => bail!("unknown scale {other:?}\n{USAGE}"),
                }
            }
            "--debug" => release = false,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
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
    eprintln!(
        "crash commit: 'mixed' profile at {} scale from seed {seed}: v1 {} files, {:.1} MiB; v2 {} changed, {} added, {} removed",
        scale.0,
        tree.files,
        tree.bytes as f64 / MIB as f64,
        revision.changed.len(),
        revision.added.len(),
        revision.removed.len()
    );
    let mut command = super::cargo_test("ocfl-cli", "crash_commit", release)?;
    command
        .arg("--nocapture")
        .env("OCFL_CRASH_ITERATIONS", iterations.to_string())
        .env("OCFL_CRASH_SEED", seed.to_string())
        .env("OCFL_CRASH_V1", &v1)
        .env("OCFL_CRASH_V2", &v2);
    eprintln!(
        "crash commit: {iterations} iterations ({})",
        if release { "release" } else { "debug" }
    );
    super::run_cargo_test(command)
}

fn number(arg: &str, text: &str) -> anyhow::Result<u64> {
    text.parse()
        .with_context(|| format!("{arg} needs a number, not {text:?}"))
}

#[cfg(test)]
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
}
