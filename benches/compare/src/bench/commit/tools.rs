//! The contenders: the floor (`cp -r` and `sha512sum`), ours (`ocfl commit`) and rocfl
//! (`rocfl new`/`rm`/`cp`/`commit`). Each commits the v1 source and then the v2 source into
//! a fresh destination; only those two phases are timed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

use super::measure::{Measurement, Meter, tail};
use super::revise::Revision;
use crate::bench::peers::{Invocation, Validator};

/// The object every tool creates.
pub const OBJECT_ID: &str = "urn:bench:commit";

/// The floor's script: `$1` the source, `$2` the destination (which must not exist).
pub const FLOOR_SCRIPT: &str =
    "cp -r \"$1\" \"$2\" && find \"$2\" -type f -print0 | xargs -0 sha512sum > /dev/null";

/// A contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Floor,
    Ours,
    Rocfl,
}

impl Tool {
    /// Names the tool in tables and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Ours => "ours",
            Tool::Rocfl => "rocfl",
        }
    }
}

/// Where the tools are.
#[derive(Debug, Clone)]
pub struct Contenders {
    /// The release `ocfl` binary.
    pub ours: PathBuf,
    pub ours_version: Option<String>,
    /// rocfl and what its `--version` printed, when installed.
    pub rocfl: Option<(PathBuf, Option<String>)>,
}

impl Contenders {
    /// `ours` and rocfl from `PATH` or `~/.cargo/bin`.
    pub fn find(ours: PathBuf) -> Contenders {
        let ours_version = Command::new(&ours)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty());
        let rocfl = Validator::rocfl().and_then(|found| match found.invocation {
            Invocation::Program { program, .. } => Some((program, found.version)),
            Invocation::InProcess => None,
        });
        Contenders {
            ours,
            ours_version,
            rocfl,
        }
    }

    /// The `ocfl` binary at `ours` (or built in release when `None`) and rocfl, saying on
    /// stderr when rocfl is missing; `bench` names the benchmark in the error.
    pub fn for_bench(ours: Option<&Path>, bench: &str) -> anyhow::Result<Contenders> {
        let ours = match ours {
            Some(path) => std::path::absolute(path)?,
            None => crate::bench::build_ours(&crate::bench::workspace_root()),
        };
        anyhow::ensure!(
            ours.is_file(),
            "{} was not built; the {bench} benchmark needs the ocfl binary",
            ours.display()
        );
        let contenders = Contenders::find(ours);
        if contenders.rocfl.is_none() {
            eprintln!(
                "bench: rocfl not found, skipped (install: {})",
                crate::bench::peers::Peer::Rocfl.install_hint()
            );
        }
        Ok(contenders)
    }

    /// The tools to time: the floor, ours, and rocfl when it is installed.
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![Tool::Floor, Tool::Ours];
        if self.rocfl.is_some() {
            tools.push(Tool::Rocfl);
        }
        tools
    }

    /// What is timed for `tool`, for the report.
    pub fn describe(&self, tool: Tool) -> String {
        match tool {
            Tool::Floor => format!("sh -c '{FLOOR_SCRIPT}' floor SRC DEST (v1 and v2 alike)"),
            Tool::Ours => format!(
                "{} --root ROOT --quiet --json commit {OBJECT_ID} SRC --message vN (after an untimed init)",
                self.ours.display()
            ),
            Tool::Rocfl => format!(
                "v1: {0} -r ROOT new {OBJECT_ID}; {0} -r ROOT cp -r {OBJECT_ID} SRC/* -- /; {0} -r ROOT commit {OBJECT_ID} ... \
                 v2: {0} -r ROOT rm {OBJECT_ID} REMOVED...; {0} -r ROOT cp -r {OBJECT_ID} SRC/* -- /; {0} -r ROOT commit {OBJECT_ID} ... \
                 (after an untimed init)",
                self.rocfl
                    .as_ref()
                    .map_or("rocfl".into(), |(p, _)| p.display().to_string())
            ),
        }
    }
}

/// One tool's v1 and v2 phases.
#[derive(Debug, Clone)]
pub struct Committed {
    pub v1: Measurement,
    pub v2: Measurement,
}

/// The sources a run commits.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub v1: &'a Path,
    pub v2: &'a Path,
    pub revision: &'a Revision,
}

impl Contenders {
    /// Runs `tool` on `sources` into `dest` (which must not exist). For ours and rocfl
    /// `dest` becomes the storage root; the floor copies into `dest/v1` and `dest/v2`.
    pub fn commit(
        &self,
        tool: Tool,
        meter: &Meter,
        sources: Sources<'_>,
        dest: &Path,
    ) -> anyhow::Result<Committed> {
        anyhow::ensure!(!dest.exists(), "{} exists already", dest.display());
        match tool {
            Tool::Floor => {
                std::fs::create_dir_all(dest)?;
                let floor = |source: &Path, copy: &str| {
                    let args: Vec<OsString> = vec![
                        "-c".into(),
                        FLOOR_SCRIPT.into(),
                        "floor".into(),
                        source.into(),
                        dest.join(copy).into(),
                    ];
                    meter.run("sh".as_ref(), &args, dest)
                };
                Ok(Committed {
                    v1: floor(sources.v1, "v1")?,
                    v2: floor(sources.v2, "v2")?,
                })
            }
            Tool::Ours => self.ours(meter, sources, dest),
            Tool::Rocfl => self.rocfl(meter, sources, dest),
        }
    }

    fn ours(&self, meter: &Meter, sources: Sources<'_>, root: &Path) -> anyhow::Result<Committed> {
        untimed(&self.ours, &["--root".into(), root.into(), "init".into()])?;
        let commit = |source: &Path, version: &str| -> anyhow::Result<Measurement> {
            let args: Vec<OsString> = vec![
                "--root".into(),
                root.into(),
                "--quiet".into(),
                "--json".into(),
                "commit".into(),
                OBJECT_ID.into(),
                source.into(),
                "--message".into(),
                version.into(),
            ];
            let measured = meter.run(self.ours.as_os_str(), &args, parent_of(root))?;
            check_ours_output(&measured.stdout, version)?;
            Ok(measured)
        };
        Ok(Committed {
            v1: commit(sources.v1, "v1")?,
            v2: commit(sources.v2, "v2")?,
        })
    }

    fn rocfl(&self, meter: &Meter, sources: Sources<'_>, root: &Path) -> anyhow::Result<Committed> {
        let (rocfl, _) = self.rocfl.as_ref().context("rocfl is not installed")?;
        let run = |args: Vec<OsString>| {
            let mut full: Vec<OsString> = vec!["-r".into(), root.into()];
            full.extend(args);
            meter.run(rocfl.as_os_str(), &full, parent_of(root))
        };
        let copy_all = |source: &Path| -> anyhow::Result<Measurement> {
            let mut args: Vec<OsString> = vec!["cp".into(), "-r".into(), OBJECT_ID.into()];
            args.extend(top_entries(source)?);
            args.extend(["--".into(), "/".into()]);
            run(args)
        };
        let commit = |version: &str| {
            run(vec![
                "commit".into(),
                OBJECT_ID.into(),
                "-m".into(),
                version.into(),
                "-n".into(),
                "bench".into(),
                "-a".into(),
                "mailto:bench@example.org".into(),
            ])
        };
        untimed(rocfl, &["-r".into(), root.into(), "init".into()])?;
        let v1 = run(vec!["new".into(), OBJECT_ID.into()])?
            .then(copy_all(sources.v1)?)
            .then(commit("v1")?);
        // rocfl has no "make the object look like this directory": it is told what was
        // removed (the benchmark knows), and copying the whole tree over the staged version
        // replaces changed files, adds new ones and deduplicates the rest.
        let removed = if sources.revision.removed.is_empty() {
            None
        } else {
            let mut args: Vec<OsString> = vec!["rm".into(), OBJECT_ID.into()];
            args.extend(sources.revision.removed.iter().map(OsString::from));
            Some(run(args)?)
        };
        let v2 = after(removed, copy_all(sources.v2)?).then(commit("v2")?);
        Ok(Committed { v1, v2 })
    }
}

/// `next` after `first` when there was a first process. Starting from
/// `Measurement::default()` instead would lose the CPU column: a default has no CPU seconds,
/// and a sum with none is none.
fn after(first: Option<Measurement>, next: Measurement) -> Measurement {
    match first {
        Some(first) => first.then(next),
        None => next,
    }
}

/// Runs a preparation step that is not timed.
fn untimed(program: &Path, args: &[OsString]) -> anyhow::Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} {:?} failed ({}):\n{}",
        program.display(),
        args,
        output.status,
        tail(&String::from_utf8_lossy(&output.stderr), 15)
    );
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The entries directly under `dir`, as full paths, sorted.
fn top_entries(dir: &Path) -> anyhow::Result<Vec<OsString>> {
    let mut entries: Vec<OsString> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path().into_os_string()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

/// `ocfl commit --json` prints `{"id","version","steps","bytes","run","changed"}`: it must
/// name the version this commit was meant to create.
pub fn check_ours_output(stdout: &str, version: &str) -> anyhow::Result<Value> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("ocfl commit --json printed nothing (expected {version})"))?;
    let value: Value = serde_json::from_str(line)
        .with_context(|| format!("ocfl commit --json printed {line:?}"))?;
    anyhow::ensure!(
        value["version"] == version && value["id"] == OBJECT_ID,
        "ocfl commit reported {line}, expected {OBJECT_ID} {version}"
    );
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::bench::commit::tree::generate_uniform;

    #[test]
    fn rocfls_v2_without_a_removal_keeps_its_cpu_seconds() {
        let process = |seconds, cpu| Measurement {
            seconds,
            cpu_seconds: Some(cpu),
            peak_rss_kib: Some(100),
            stdout: String::new(),
        };
        let copied = after(None, process(1.0, 0.5)).then(process(2.0, 1.5));
        assert_eq!(copied.cpu_seconds, Some(2.0));
        assert_eq!(copied.seconds, 3.0);
        let removed_first = after(Some(process(0.5, 0.25)), process(1.0, 0.5));
        assert_eq!(removed_first.cpu_seconds, Some(0.75));
        assert_eq!(removed_first.seconds, 1.5);
    }

    #[test]
    fn ours_output_must_name_the_version() {
        let line = r#"{"id":"urn:bench:commit","version":"v2","steps":5,"bytes":10,"run":"r","changed":true}"#;
        assert_eq!(check_ours_output(line, "v2").unwrap()["steps"], 5);
        assert!(check_ours_output(line, "v1").is_err());
        assert!(check_ours_output("", "v1").is_err());
        assert!(check_ours_output("not json", "v1").is_err());
    }

    #[test]
    fn the_floor_copies_both_trees() {
        let dir = tempfile::tempdir().unwrap();
        let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
        generate_uniform(&v1, 30, 10, 1).unwrap();
        let revision = super::super::revise::revise(&v1, &v2, 1).unwrap();
        let contenders = Contenders {
            ours: PathBuf::from("/nonexistent/ocfl"),
            ours_version: None,
            rocfl: None,
        };
        let dest = dir.path().join("floor");
        let sources = Sources {
            v1: &v1,
            v2: &v2,
            revision: &revision,
        };
        let done = contenders
            .commit(Tool::Floor, &Meter::detect(), sources, &dest)
            .unwrap();
        assert!(done.v1.seconds > 0.0 && done.v2.seconds > 0.0);
        let copied = super::super::tree::contents(&dest.join("v2"));
        assert_eq!(copied, super::super::tree::contents(&v2));
        assert_eq!(contenders.tools(), [Tool::Floor, Tool::Ours]);
        // A destination that exists is refused: every run starts fresh.
        assert!(
            contenders
                .commit(Tool::Floor, &Meter::detect(), sources, &dest)
                .is_err()
        );
    }

    /// rocfl, when installed, must leave the object at v2 holding exactly the v2 source:
    /// otherwise the benchmark would time it doing something else.
    #[test]
    fn rocfl_commits_v1_then_v2_when_installed() {
        let contenders = Contenders::find(PathBuf::from("/nonexistent/ocfl"));
        let Some(_) = contenders.rocfl else {
            eprintln!("rocfl is not installed; nothing to check");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
        generate_uniform(&v1, 300, 50, 4).unwrap();
        let revision = super::super::revise::revise(&v1, &v2, 4).unwrap();
        let sources = Sources {
            v1: &v1,
            v2: &v2,
            revision: &revision,
        };
        let root = dir.path().join("root");
        contenders
            .commit(Tool::Rocfl, &Meter::detect(), sources, &root)
            .unwrap();
        let inventory = root
            .join(crate::bench::generate::object_root_path(OBJECT_ID))
            .join("inventory.json");
        let (head, state) = super::super::check::head_state(&inventory).unwrap();
        assert_eq!(head, "v2");
        assert_eq!(state, super::super::check::expected_state(&v2).unwrap());
    }
}
