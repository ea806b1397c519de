//! `cargo xtask interop --s3`: `ocfl` and rocfl 1.7 on one S3 server, over https (rocfl's
//! S3 mode speaks nothing else): a private moto behind TLS with a local certificate
//! authority ([`crate::s3server`]).
//!
//! 1. `ocfl` writes a root to S3 (init, two commits of one object, a second object): rocfl
//!    validates the root (fixity checked), lists each object's files and prints a file of
//!    each version, byte-exact.
//! 2. rocfl writes a root to S3 (init, new, cp, commit): `ocfl` validates it, lists and
//!    exports the object byte-exact, commits a v2 to it, validates again; rocfl then
//!    validates the updated root and prints a file of v2, byte-exact.
//!
//! The printed lines say what each step checked; the exit status is 1 if any failed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::bench::commit::tree::list_files;
use crate::s3server::TlsS3Server;

const BUCKET: &str = "interop";

/// The files of one version: path -> bytes.
type Files = BTreeMap<String, Vec<u8>>;

/// Both sources (v1 and v2) of the object, and the files each version must hold.
fn sources(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, Files, Files)> {
    let v1: Files = [
        ("README.txt", b"interop over S3\n".to_vec()),
        ("data/a b.csv", b"x,y\n1,2\n".to_vec()),
        ("data/deep/er/c.bin", (0..=255u8).collect()),
        ("data/copy.csv", b"x,y\n1,2\n".to_vec()),
        ("empty", Vec::new()),
    ]
    .into_iter()
    .map(|(p, b)| (p.to_string(), b))
    .collect();
    let mut v2 = v1.clone();
    v2.remove("empty");
    v2.insert("README.txt".into(), b"interop over S3, v2\n".to_vec());
    v2.insert("data/new.txt".into(), b"added in v2\n".to_vec());
    let write = |name: &str, files: &Files| -> anyhow::Result<PathBuf> {
        let root = dir.join(name);
        for (path, bytes) in files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap_or(&root))?;
            std::fs::write(&file, bytes)?;
        }
        Ok(root)
    };
    Ok((write("src-v1", &v1)?, write("src-v2", &v2)?, v1, v2))
}

/// The files under `dir`.
fn read_tree(dir: &Path) -> anyhow::Result<Files> {
    list_files(dir)?
        .into_iter()
        .map(|f| Ok((f.path.clone(), std::fs::read(dir.join(&f.path))?)))
        .collect()
}

struct Tools<'a> {
    server: &'a TlsS3Server,
    ocfl: PathBuf,
    rocfl: PathBuf,
    state: PathBuf,
    staging: PathBuf,
}

impl Tools<'_> {
    fn command(&self, program: &Path, args: &[OsString]) -> Command {
        let mut command = Command::new(program);
        command.args(args);
        self.server.configure(&mut command);
        command.env("XDG_STATE_HOME", &self.state);
        command
    }

    /// Runs `program`; its stdout, or an error with its output.
    fn run(&self, program: &Path, args: &[OsString]) -> anyhow::Result<Vec<u8>> {
        let output = self
            .command(program, args)
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} {} exited {}:\n{}{}",
            program.display(),
            shown(args),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output.stdout)
    }

    fn ocfl(&self, root: &str, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let mut full: Vec<OsString> = vec!["--root".into(), format!("s3://{BUCKET}/{root}").into()];
        full.extend(args.iter().map(OsString::from));
        self.run(&self.ocfl, &full)
    }

    fn rocfl(&self, root: &str, args: &[OsString]) -> anyhow::Result<Vec<u8>> {
        let mut full: Vec<OsString> = self
            .server
            .rocfl_args(BUCKET)
            .into_iter()
            .map(OsString::from)
            .collect();
        full.extend([
            "-r".into(),
            root.into(),
            "-s".into(),
            self.staging.clone().into(),
        ]);
        full.extend(args.iter().cloned());
        self.run(&self.rocfl, &full)
    }
}

fn shown(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// rocfl's `ls ID` lists one logical path per line.
fn rocfl_paths(stdout: &[u8]) -> Vec<String> {
    let mut paths: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    paths.sort();
    paths
}

/// Runs both directions; every check is printed as it passes or fails.
pub fn run(ocfl: PathBuf, rocfl: PathBuf) -> anyhow::Result<ExitCode> {
    let server = TlsS3Server::start(&crate::s3server::default_dir())?;
    eprintln!(
        "interop --s3: private moto over https at {}",
        server.endpoint()
    );
    server.create_bucket(BUCKET)?;
    let temp = tempfile::tempdir()?;
    let tools = Tools {
        server: &server,
        ocfl,
        rocfl,
        state: temp.path().join("state"),
        staging: temp.path().join("rocfl-staging"),
    };
    std::fs::create_dir_all(&tools.staging)?;
    let (src1, src2, v1, v2) = sources(temp.path())?;
    let mut failures = 0;
    let mut check = |what: &str, result: anyhow::Result<()>| match result {
        Ok(()) => println!("ok      {what}"),
        Err(e) => {
            failures += 1;
            println!("FAILED  {what}: {e:#}");
        }
    };

    // 1. ocfl writes, rocfl reads.
    let written = (|| -> anyhow::Result<()> {
        tools.ocfl("ours", &["init"])?;
        for (source, version) in [(&src1, "v1"), (&src2, "v2")] {
            let source = source.display().to_string();
            tools.ocfl(
                "ours",
                &[
                    "--quiet",
                    "commit",
                    "urn:ours:1",
                    &source,
                    "--message",
                    version,
                ],
            )?;
        }
        let source = src1.display().to_string();
        tools.ocfl(
            "ours",
            &[
                "--quiet",
                "commit",
                "urn:ours:2",
                &source,
                "--message",
                "v1",
            ],
        )?;
        Ok(())
    })();
    let wrote = written.is_ok();
    check(
        "ocfl init + 3 commits (2 objects) to s3://interop/ours",
        written,
    );
    if wrote {
        check(
            "rocfl validate s3://interop/ours (root and every object, fixity checked)",
            tools.rocfl("ours", &os(&["validate"])).map(drop),
        );
        check(
            "rocfl ls urn:ours:1 lists v2's files",
            (|| {
                let paths = rocfl_paths(&tools.rocfl("ours", &os(&["ls", "urn:ours:1"]))?);
                let expected: Vec<String> = v2.keys().cloned().collect();
                anyhow::ensure!(paths == expected, "listed {paths:?}, expected {expected:?}");
                Ok(())
            })(),
        );
        check(
            "rocfl cat of every file of v1 and v2 of urn:ours:1 is byte-exact",
            (|| {
                for (version, files) in [("v1", &v1), ("v2", &v2)] {
                    for (path, bytes) in files {
                        let got = tools
                            .rocfl("ours", &os(&["cat", "-v", version, "urn:ours:1", path]))?;
                        anyhow::ensure!(&got == bytes, "{version} {path} differs");
                    }
                }
                Ok(())
            })(),
        );
    }

    // 2. rocfl writes, ocfl reads and updates.
    let written = (|| -> anyhow::Result<()> {
        tools.rocfl("theirs", &os(&["init"]))?;
        tools.rocfl("theirs", &os(&["new", "urn:rocfl:1"]))?;
        let mut cp = os(&["cp", "-r", "urn:rocfl:1"]);
        for entry in std::fs::read_dir(&src1)? {
            cp.push(entry?.path().into_os_string());
        }
        cp.extend(os(&["--", "/"]));
        tools.rocfl("theirs", &cp)?;
        tools.rocfl(
            "theirs",
            &os(&[
                "commit",
                "urn:rocfl:1",
                "-m",
                "v1",
                "-n",
                "interop",
                "-a",
                "mailto:interop@example.org",
            ]),
        )?;
        Ok(())
    })();
    let wrote = written.is_ok();
    check(
        "rocfl init + new + cp + commit to s3://interop/theirs",
        written,
    );
    if wrote {
        check(
            "ocfl validate s3://interop/theirs",
            tools.ocfl("theirs", &["validate"]).map(drop),
        );
        check(
            "ocfl ls urn:rocfl:1 lists v1's files",
            (|| {
                let text = tools.ocfl("theirs", &["ls", "urn:rocfl:1"])?;
                let mut paths = rocfl_paths(&text);
                paths.sort();
                let expected: Vec<String> = v1.keys().cloned().collect();
                anyhow::ensure!(paths == expected, "listed {paths:?}, expected {expected:?}");
                Ok(())
            })(),
        );
        check(
            "ocfl export urn:rocfl:1 is byte-exact",
            (|| {
                let out = temp.path().join("export-v1");
                tools.ocfl(
                    "theirs",
                    &["export", "urn:rocfl:1", &out.display().to_string()],
                )?;
                anyhow::ensure!(read_tree(&out)? == v1, "the export differs from the source");
                Ok(())
            })(),
        );
        let updated = tools
            .ocfl(
                "theirs",
                &[
                    "--quiet",
                    "commit",
                    "urn:rocfl:1",
                    &src2.display().to_string(),
                    "--message",
                    "v2",
                ],
            )
            .map(drop);
        let updated_ok = updated.is_ok();
        check("ocfl commit of a v2 to rocfl's object", updated);
        if updated_ok {
            check(
                "ocfl validate s3://interop/theirs after the update",
                tools.ocfl("theirs", &["validate"]).map(drop),
            );
            check(
                "rocfl validate s3://interop/theirs after ocfl's update",
                tools.rocfl("theirs", &os(&["validate"])).map(drop),
            );
            check(
                "rocfl cat of every file of v2 (written by ocfl) is byte-exact",
                (|| {
                    for (path, bytes) in &v2 {
                        let got = tools.rocfl("theirs", &os(&["cat", "urn:rocfl:1", path]))?;
                        anyhow::ensure!(&got == bytes, "{path} differs");
                    }
                    Ok(())
                })(),
            );
        }
    }
    println!(
        "interop --s3: {}",
        if failures == 0 {
            "every check passed".to_string()
        } else {
            format!("{failures} check(s) FAILED")
        }
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_sources_are_written_as_listed() {
        let dir = tempfile::tempdir().unwrap();
        let (src1, src2, v1, v2) = sources(dir.path()).unwrap();
        assert_eq!(read_tree(&src1).unwrap(), v1);
        assert_eq!(read_tree(&src2).unwrap(), v2);
        assert_ne!(v1, v2);
        assert_eq!(
            rocfl_paths(b"b\n  a/c \n\n"),
            vec!["a/c".to_string(), "b".to_string()]
        );
    }
}
