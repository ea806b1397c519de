//! ocfl-py (`pip install ocfl-py==2.1.0`), driven through `ocfl_py.py` so that one Python
//! start checks or writes every root of a test.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::missing;
use crate::commit_support::{stderr, stdout};

/// The helper script beside this module.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop_support/ocfl_py.py")
}

/// A storage root for ocfl-py to write: (spec version, layout, root, [(object id, one source
/// directory per version)]).
pub type RootRequest<'a> = (&'a str, &'a str, &'a Path, Vec<(&'a str, Vec<PathBuf>)>);

/// The `python3` on `PATH`, which imports ocfl-py.
pub struct OcflPy {
    python: PathBuf,
    pub version: String,
}

impl OcflPy {
    /// ocfl-py when `python3` imports it; otherwise a note, or a failure where it is required
    /// ([`missing`]).
    pub fn find() -> Option<OcflPy> {
        let python = PathBuf::from("python3");
        let output = Command::new(&python)
            .args(["-c", "import ocfl; print(ocfl.__version__)"])
            .output();
        match output {
            Ok(output) if output.status.success() => Some(OcflPy {
                python,
                version: stdout(&output).trim().to_owned(),
            }),
            _ => {
                missing(
                    "ocfl-py",
                    true,
                    "python3 cannot import ocfl: pip install ocfl-py==2.1.0",
                );
                None
            }
        }
    }

    fn run(&self, args: &[&str]) -> Value {
        let output = Command::new(&self.python)
            .arg(script())
            .args(args)
            .output()
            .expect("run python3");
        assert!(
            output.status.success(),
            "ocfl_py.py {}: {}{}",
            args.first().copied().unwrap_or(""),
            stdout(&output),
            stderr(&output)
        );
        serde_json::from_slice(&output.stdout).expect("ocfl_py.py prints JSON")
    }

    /// ocfl-py's verdicts on `roots`, every version of every object extracted below `out`:
    /// root path -> {root, root_with_names_registered, objects: {dir -> {id, valid, errors,
    /// warnings, messages, versions: {vN -> extracted dir}}}}.
    pub fn check(&self, out: &Path, roots: &[&Path]) -> Value {
        let mut args = vec!["check", out.to_str().expect("utf-8")];
        args.extend(roots.iter().map(|r| r.to_str().expect("utf-8")));
        self.run(&args)
    }

    /// Writes storage roots with ocfl-py. Returns each root's id -> object directory.
    pub fn build(&self, roots: &[RootRequest<'_>]) -> Value {
        let request: Vec<Value> = roots
            .iter()
            .map(|(spec, layout, root, objects)| {
                let objects: Vec<Value> = objects
                    .iter()
                    .map(|(id, sources)| json!({"id": id, "sources": sources}))
                    .collect();
                json!({"spec": spec, "layout": layout, "root": root, "objects": objects})
            })
            .collect();
        self.run(&["build", &Value::Array(request).to_string()])
    }
}

/// The error codes of a verdict (`root`, `root_with_names_registered` or an object's).
pub fn errors(verdict: &Value) -> Vec<&str> {
    verdict["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|code| code.as_str().expect("code"))
        .collect()
}
