//! The validators being compared: ours (the `ocfl` binary, or in-process as a labelled
//! fallback), rocfl and ocfl-py, beside the floor every fixity-checking validator pays
//! (`sha512sum` of the content). Each run is one timed validation of a whole storage root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use ocfl_core::storage::LocalStorage;

use super::commit::measure;
use ocfl_core::validate::{ValidationOptions, validate_storage_root};

/// Which peer; also names its figures in the JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ours,
    Rocfl,
    OcflPy,
    /// Not a validator: `sha512sum` of every content file, the reading and hashing that
    /// checking fixity costs any validator.
    Floor,
}

impl Peer {
    pub fn key(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::Rocfl => "rocfl",
            Peer::OcflPy => "ocfl_py",
            Peer::Floor => "sha512sum",
        }
    }

    /// Whether this is a validator (the floor only reads and hashes).
    pub fn validates(self) -> bool {
        self != Peer::Floor
    }

    /// How to install the peer when it is missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            Peer::Ours => "cargo build --release -p ocfl-cli",
            Peer::Rocfl => "cargo install rocfl --version 1.7.0",
            Peer::OcflPy => "pip install ocfl-py==2.1.0",
            Peer::Floor => "coreutils (find, xargs, sha512sum)",
        }
    }

    /// The version the targets are stated against.
    pub fn expected_version(self) -> Option<&'static str> {
        match self {
            Peer::Ours => None,
            Peer::Rocfl => Some("1.7.0"),
            Peer::OcflPy => Some("2.1.0"),
            Peer::Floor => None,
        }
    }
}

/// How a peer is invoked.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// An executable; the storage root is appended to `args` where `ROOT` stands.
    Program { program: PathBuf, args: Vec<String> },
    /// Our validator called in this process: only when the `ocfl` binary is missing.
    InProcess,
}

/// An available peer and how to run it.
#[derive(Debug, Clone)]
pub struct Validator {
    pub peer: Peer,
    pub invocation: Invocation,
    /// What `--version` printed (first line), if anything.
    pub version: Option<String>,
}

/// The result of one validation run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seconds: f64,
    /// User plus system CPU seconds of the process and its children (GNU time only).
    pub cpu_seconds: Option<f64>,
    /// The process's exit status (None: killed by a signal, or in-process).
    pub exit_status: Option<i32>,
    /// Whether the tool reported the root valid.
    pub valid: bool,
    /// Combined stdout and stderr, for diagnostics.
    pub output: String,
}

/// Stands for the storage root in [`Invocation::Program`] arguments.
const ROOT: &str = "ROOT";

impl Validator {
    /// Our `ocfl` binary, or the in-process fallback when `binary` does not exist.
    pub fn ours(binary: &Path) -> Validator {
        if binary.is_file() {
            Validator {
                peer: Peer::Ours,
                invocation: Invocation::Program {
                    program: binary.to_path_buf(),
                    args: vec!["validate".into(), "--root".into(), ROOT.into()],
                },
                version: first_line_of(binary, &["--version"]),
            }
        } else {
            Validator {
                peer: Peer::Ours,
                invocation: Invocation::InProcess,
                version: None,
            }
        }
    }

    /// rocfl from `PATH` or `~/.cargo/bin`; `None` when not installed.
    pub fn rocfl() -> Option<Validator> {
        let program = find_program("rocfl")?;
        Some(Validator {
            peer: Peer::Rocfl,
            version: first_line_of(&program, &["--version"]),
            // Fixity is checked unless --no-fixity-check is given; `-l error` only trims
            // the per-object "valid" lines from the output, not the checks.
            invocation: Invocation::Program {
                program,
                args: vec!["-r".into(), ROOT.into(), "validate".into()],
            },
        })
    }

    /// ocfl-py's `ocfl-validate.py` from `PATH`, run through [`OCFL_PY_DRIVER`] (written
    /// into `work_dir`); `None` when not installed.
    pub fn ocfl_py(work_dir: &Path) -> anyhow::Result<Option<Validator>> {
        let Some(found) = find_program("ocfl-validate.py") else {
            return Ok(None);
        };
        let script = resolve_pyenv_shim(found, "ocfl-validate.py");
        let driver = work_dir.join("ocfl_py_driver.py");
        std::fs::write(&driver, OCFL_PY_DRIVER)?;
        let mut interpreter = python_of(&script);
        let program = PathBuf::from(interpreter.remove(0));
        let mut args = interpreter;
        args.extend([
            driver.display().to_string(),
            script.display().to_string(),
            ROOT.to_string(),
        ]);
        // Digests and fixity are checked by default (--no-check-digests would turn that off).
        Ok(Some(Validator {
            peer: Peer::OcflPy,
            version: first_line_of(&script, &["--version"]),
            invocation: Invocation::Program { program, args },
        }))
    }

    /// `sha512sum` of every file below a `content` directory of the root (found by `find`,
    /// fed by `xargs`); `None` when coreutils' `sha512sum` is not on `PATH`.
    pub fn floor() -> Option<Validator> {
        let sha512sum = find_program("sha512sum")?;
        let script = format!(
            "find \"$1\" -path '*/content/*' -type f -print0 | xargs -0 {} > /dev/null",
            sha512sum.display()
        );
        Some(Validator {
            peer: Peer::Floor,
            version: first_line_of(&sha512sum, &["--version"]),
            invocation: Invocation::Program {
                program: PathBuf::from("sh"),
                args: vec!["-c".into(), script, "sh".into(), ROOT.into()],
            },
        })
    }

    /// A label for tables: the peer and, for the fallback, that it is one.
    pub fn label(&self) -> String {
        match (&self.invocation, self.peer) {
            (Invocation::InProcess, _) => format!(
                "ours (IN-PROCESS, {} build, not the ocfl binary)",
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            ),
            (_, Peer::Ours) => "ours (ocfl)".to_string(),
            (_, Peer::Rocfl) => "rocfl".to_string(),
            (_, Peer::OcflPy) => "ocfl-py (ocfl-validate.py via driver)".to_string(),
            (_, Peer::Floor) => "floor: sha512sum of the content".to_string(),
        }
    }

    /// The command line, for the report.
    pub fn command_line(&self) -> String {
        match &self.invocation {
            Invocation::Program { program, args } => {
                let mut line = program.display().to_string();
                for arg in args {
                    line.push(' ');
                    line.push_str(arg);
                }
                line
            }
            Invocation::InProcess => {
                "ocfl_core::validate::validate_storage_root (in-process)".to_string()
            }
        }
    }

    /// Validates the storage root at `root` once, timing it (wall time only).
    pub fn run(&self, root: &Path) -> anyhow::Result<Outcome> {
        self.run_metered(root, None)
    }

    /// [`Validator::run`], with the CPU time of the process and its children taken by GNU
    /// time at `gnu_time` when given (it reads them from `wait4`; this workspace has no
    /// `unsafe` to call it directly). GNU time's own start-up is inside the wall time: a
    /// millisecond, the same for every tool.
    pub fn run_metered(&self, root: &Path, gnu_time: Option<&Path>) -> anyhow::Result<Outcome> {
        match &self.invocation {
            Invocation::Program { program, args } => {
                let args: Vec<&std::ffi::OsStr> = args
                    .iter()
                    .map(|a| {
                        if a == ROOT {
                            root.as_os_str()
                        } else {
                            a.as_ref()
                        }
                    })
                    .collect();
                let scratch = tempfile::tempdir()?;
                let report = scratch.path().join("time");
                let mut command = match gnu_time {
                    Some(time) => {
                        let mut command = Command::new(time);
                        command
                            .args(["-f", measure::FORMAT, "-o"])
                            .arg(&report)
                            .arg(program);
                        command
                    }
                    None => Command::new(program),
                };
                let start = Instant::now();
                let output = command
                    .args(&args)
                    .output()
                    .map_err(|e| anyhow::anyhow!("running {}: {e}", program.display()))?;
                let seconds = start.elapsed().as_secs_f64();
                let mut outcome = self.judge(seconds, &output);
                if gnu_time.is_some() {
                    let text = std::fs::read_to_string(&report)
                        .map_err(|e| anyhow::anyhow!("reading GNU time's report: {e}"))?;
                    outcome.cpu_seconds = measure::parse_report(&text).map(|(_, cpu)| cpu);
                }
                Ok(outcome)
            }
            Invocation::InProcess => {
                let start = Instant::now();
                let report =
                    validate_storage_root(&LocalStorage::new(root), &ValidationOptions::default());
                let seconds = start.elapsed().as_secs_f64();
                let errors = report.root.errors.len()
                    + report.objects.iter().map(|o| o.errors.len()).sum::<usize>();
                Ok(Outcome {
                    seconds,
                    cpu_seconds: None,
                    exit_status: None,
                    valid: report.is_valid(),
                    output: format!("{} objects, {errors} errors", report.objects.len()),
                })
            }
        }
    }

    /// Reads each tool's verdict from its exit status and, where the status alone is not
    /// enough, its output.
    fn judge(&self, seconds: f64, output: &Output) -> Outcome {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let code = output.status.code();
        let valid = match self.peer {
            // Exit status contract: 0 valid, 1 invalid, 2 bad usage.
            Peer::Ours => code == Some(0),
            // 0: valid or only warnings; 1: could not validate; 2: invalid objects.
            Peer::Rocfl => code == Some(0),
            // The driver prints the verdict including the objects (see OCFL_PY_DRIVER).
            Peer::OcflPy => code == Some(0) && text.contains("storage root VALID"),
            // Every file read and hashed.
            Peer::Floor => code == Some(0),
        };
        Outcome {
            seconds,
            cpu_seconds: None,
            exit_status: code,
            valid,
            output: text,
        }
    }
}

/// Runs ocfl-py's unchanged `ocfl-validate.py` after registering layout 0004 (which ocfl-py
/// 2.1.0 lacks: it rejects such roots with E071) and making invalid objects count in the
/// verdict (its storage-root mode exits 0 for them). The file's docstring says why in full.
pub const OCFL_PY_DRIVER: &str = include_str!("ocfl_py_driver.py");

/// The interpreter of a Python script, from its `#!` line (`python3` if it has none).
fn python_of(script: &Path) -> Vec<String> {
    let first_line = std::fs::read_to_string(script)
        .ok()
        .and_then(|text| text.lines().next().map(str::to_string))
        .unwrap_or_default();
    match first_line.strip_prefix("#!") {
        Some(shebang) if !shebang.trim().is_empty() => {
            shebang.split_whitespace().map(str::to_string).collect()
        }
        _ => vec!["python3".to_string()],
    }
}

/// First line of `program args` output, if it runs.
fn first_line_of(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = if output.stdout.is_empty() {
        output.stderr
    } else {
        output.stdout
    };
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// `name` on `PATH`, or in cargo's bin directory (where `cargo install` puts rocfl).
fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// pyenv puts a shell-script shim on `PATH` that costs a few tens of milliseconds per call;
/// timing the real script keeps the comparison fair to ocfl-py.
fn resolve_pyenv_shim(program: PathBuf, name: &str) -> PathBuf {
    let is_shim = program.parent().is_some_and(|dir| dir.ends_with("shims"));
    if !is_shim {
        return program;
    }
    Command::new("pyenv")
        .args(["which", name])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|real| real.is_file())
        .unwrap_or(program)
}
