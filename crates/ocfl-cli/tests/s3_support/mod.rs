//! Shared by the tests of `ocfl` on a storage root in a bucket (moto in CI): a fresh bucket
//! per test, the binary run against it with the test server's settings, each process with a
//! state home and working directory of its own (so that nothing is shared through the local
//! filesystem), and the keys of the root and of its work area.

#![allow(dead_code)] // each test crate uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ocfl_core::location::S3Location;
use ocfl_core::storage::{EntryKind, Storage};
use ocfl_object_store::{ObjectStorage, S3Builder};

use crate::commit_support::{ocfl_command, scratch, write_tree};

/// A new bucket with a root under `archive` (not yet initialised).
pub struct Bucket {
    pub endpoint: String,
    pub name: String,
    pub url: String,
    /// The bucket from its top.
    pub top: ObjectStorage,
    pub dir: tempfile::TempDir,
}

impl Bucket {
    /// A fresh bucket named after `test`, or `None` (the test is skipped) without
    /// `OCFL_TEST_S3_ENDPOINT`.
    pub fn new(test: &str) -> Option<Bucket> {
        let Some(endpoint) = test_support::service("OCFL_TEST_S3_ENDPOINT", "S3") else {
            eprintln!("{test}: skipped");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "ocfl-cli-{}-{}-{nanos}",
            test.replace('_', "-"),
            std::process::id()
        );
        let created = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/{name}"))
            .send()
            .expect("create the test bucket");
        assert!(created.status().is_success(), "{}", created.status());
        let top = S3Builder::new(S3Location::new(&name, "").expect("location"))
            .endpoint(&endpoint)
            .credentials("ocfl-test", "ocfl-test-secret", None)
            .build()
            .expect("store");
        Some(Bucket {
            url: format!("s3://{name}/archive"),
            name,
            endpoint,
            top,
            dir: scratch(),
        })
    }

    /// `ocfl --root URL args...` in a process whose state home and working directory are
    /// `home` (created if needed), not yet run.
    pub fn command_in(&self, home: &Path, args: &[&str]) -> Command {
        std::fs::create_dir_all(home).expect("home");
        let mut command = ocfl_command();
        command
            .current_dir(home)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "ocfl-test")
            .env("AWS_SECRET_ACCESS_KEY", "ocfl-test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("HOME", home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env_remove("AWS_SESSION_TOKEN")
            .arg("--root")
            .arg(&self.url)
            .args(args);
        command
    }

    /// This test's default home.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `ocfl --root URL args...` in the default home.
    pub fn ocfl(&self, args: &[&str]) -> Output {
        self.command_in(&self.home(), args)
            .output()
            .expect("run ocfl")
    }

    /// A source tree `name` holding `files`, as a path string.
    pub fn source(&self, name: &str, files: &[(&str, &[u8])]) -> String {
        let dir = self.dir.path().join(name);
        write_tree(&dir, files);
        dir.to_str().expect("utf-8").to_owned()
    }

    /// Every key below `prefix` (`archive`, `archive.ocfl-work`), as paths below it.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut dirs = vec![prefix.to_owned()];
        while let Some(dir) = dirs.pop() {
            let entries = match Storage::list(&self.top, &dir) {
                Ok(entries) => entries,
                Err(error) if error.is_not_found() => continue,
                Err(error) => panic!("list {dir}: {error}"),
            };
            for entry in entries {
                let path = format!("{dir}/{}", entry.name);
                match entry.kind {
                    EntryKind::Directory => dirs.push(path),
                    _ => keys.push(path[prefix.len() + 1..].to_owned()),
                }
            }
        }
        keys.sort();
        keys
    }
}
