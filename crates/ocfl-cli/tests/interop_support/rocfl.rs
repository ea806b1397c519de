//! rocfl 1.7 (`cargo install rocfl --version 1.7.0`, minutes to build, so not in CI), where
//! installed.
//!
//! rocfl 1.7 reads inventories into borrowed strings, so it cannot parse one whose JSON holds
//! an escape: any logical or content path with a backslash (which JSON must escape, `\\` or
//! `\u005c`, so no equally valid form of ours avoids it) makes the object invalid to rocfl
//! ("manifest key ... must reference an array of strings", E092) and unreadable by its `ls`.
//! rocfl also has no handler for layout 0012 (it warns, then finds objects by walking).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::missing;
use crate::commit_support::{installed_rocfl, read_tree, stderr, stdout};

/// The layouts rocfl 1.7 can write, with the config each needs (rocfl has no defaults for
/// 0006 and 0007).
pub const LAYOUTS: [(&str, Option<&str>); 5] = [
    ("0002-flat-direct-storage-layout", None),
    ("0003-hash-and-id-n-tuple-storage-layout", None),
    ("0004-hashed-n-tuple-storage-layout", None),
    (
        "0006-flat-omit-prefix-storage-layout",
        Some(r#"{"extensionName": "0006-flat-omit-prefix-storage-layout", "delimiter": ":"}"#),
    ),
    (
        "0007-n-tuple-omit-prefix-storage-layout",
        Some(
            r#"{"extensionName": "0007-n-tuple-omit-prefix-storage-layout", "delimiter": ":", "tupleSize": 3, "numberOfTuples": 3, "zeroPadding": "left", "reverseObjectRoot": false}"#,
        ),
    ),
];

/// What rocfl 1.7 says of an object with a backslash in a path (see the module comment).
pub const BACKSLASH_DEFECT: &str = "must reference an array of strings";

pub struct Rocfl {
    bin: PathBuf,
}

impl Rocfl {
    /// rocfl when installed; otherwise a note, or a failure under `cargo xtask interop`
    /// ([`missing`]).
    pub fn find() -> Option<Rocfl> {
        match installed_rocfl() {
            Some(bin) => Some(Rocfl { bin }),
            None => {
                missing(
                    "rocfl",
                    false,
                    "no ~/.cargo/bin/rocfl: cargo install rocfl --version 1.7.0",
                );
                None
            }
        }
    }

    /// `rocfl -r ROOT args...` from `dir` (its exit status unchecked).
    fn run_in(&self, dir: &Path, root: &Path, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .current_dir(dir)
            .arg("-r")
            .arg(root)
            .args(args)
            .output()
            .expect("run rocfl")
    }

    fn run(&self, root: &Path, args: &[&str]) -> Output {
        self.run_in(Path::new("."), root, args)
    }

    fn ok(&self, root: &Path, args: &[&str]) -> Output {
        let output = self.run(root, args);
        assert!(
            output.status.success(),
            "rocfl {args:?} on {}: {}{}",
            root.display(),
            stdout(&output),
            stderr(&output)
        );
        output
    }

    /// `rocfl validate` of the object at `path` (relative to `root`), fixity checked:
    /// (exit code, stdout).
    pub fn validate_object(&self, root: &Path, path: &str) -> (i32, String) {
        let output = self.run(root, &["validate", "--paths", path]);
        (output.status.code().unwrap_or(-1), stdout(&output))
    }

    /// `rocfl validate` of the whole root: (exit code, stdout).
    pub fn validate_root(&self, root: &Path) -> (i32, String) {
        let output = self.run(root, &["validate"]);
        (output.status.code().unwrap_or(-1), stdout(&output))
    }

    /// `rocfl ls ID -v VERSION`: the version's logical paths, sorted.
    pub fn files(&self, root: &Path, id: &str, version: &str) -> Vec<String> {
        let output = self.ok(root, &["ls", id, "-v", version]);
        let mut paths: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
        paths.sort();
        paths
    }

    /// A storage root written by rocfl: `rocfl init`, then for each object `rocfl new` and,
    /// per version (a source directory), `rocfl rm` of the paths the version drops,
    /// `rocfl cp` of the directory's files and `rocfl commit`.
    pub fn write_root(
        &self,
        root: &Path,
        spec: &str,
        layout: &str,
        config: Option<&str>,
        objects: &[(&str, &[PathBuf])],
    ) {
        let mut init = vec!["init", "--spec-version", spec, "--layout", layout];
        let config_file = root.with_extension("rocfl-layout.json");
        if let Some(config) = config {
            fs::write(&config_file, config).expect("write layout config");
            init.extend(["--config-file", config_file.to_str().expect("utf-8")]);
        }
        self.ok(root, &init);
        for (id, versions) in objects {
            self.ok(root, &["new", id, "--spec-version", spec]);
            let mut previous: BTreeSet<String> = BTreeSet::new();
            for (n, source) in versions.iter().enumerate() {
                let paths: BTreeSet<String> = read_tree(source).into_keys().collect();
                let dropped: Vec<&str> = previous.difference(&paths).map(String::as_str).collect();
                if !dropped.is_empty() {
                    let mut rm = vec!["rm", id, "--"];
                    rm.extend(dropped);
                    self.ok(root, &rm);
                }
                // Each top-level entry as `./name`, so a leading dash is not an option, from
                // the source directory (rocfl keeps paths as given); the root's path is
                // absolute, a temporary directory.
                let entries: Vec<String> = fs::read_dir(source)
                    .expect("read source")
                    .map(|e| {
                        let name = e.expect("entry").file_name();
                        format!("./{}", name.to_str().expect("utf-8"))
                    })
                    .collect();
                let mut cp = vec!["cp", "--recursive", id];
                cp.extend(entries.iter().map(String::as_str));
                cp.extend(["--", "/"]);
                let output = self.run_in(source, root, &cp);
                assert!(output.status.success(), "rocfl cp: {}", stderr(&output));
                let message = format!("v{} by rocfl", n + 1);
                self.ok(
                    root,
                    &[
                        "commit",
                        id,
                        "--message",
                        &message,
                        "--user-name",
                        "rocfl",
                        "--user-address",
                        "mailto:rocfl@example.org",
                    ],
                );
                previous = paths;
            }
        }
    }
}
