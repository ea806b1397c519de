//! A BagIt bag (RFC 8493) as the source of a commit: its payload (`data/`) is staged like any
//! directory, with the bag's manifest algorithms as fixity, so one read of each file both
//! stages it and checks it against the manifests ([`Bag::verify`]).
//!
//! ```
//! use ocfl_core::digest::DigestAlgorithm;
//! use ocfl_plan::bag::Bag;
//! use ocfl_plan::stage::{Stage, StageOptions};
//!
//! let bag = tempfile::tempdir().unwrap();
//! std::fs::create_dir(bag.path().join("data")).unwrap();
//! std::fs::write(bag.path().join("data/a.txt"), b"a").unwrap();
//! std::fs::write(bag.path().join("bagit.txt"), ocfl_core::bagit::DECLARATION).unwrap();
//! std::fs::write(
//!     bag.path().join("manifest-md5.txt"),
//!     b"0cc175b9c0f1b6a831c399e269772661 data/a.txt\n",
//! ).unwrap();
//! let bag = Bag::open(bag.path()).unwrap();
//! let options = StageOptions { fixity: bag.fixity_algorithms(DigestAlgorithm::Sha512), ..StageOptions::default() };
//! let stage = Stage::from_directory(&bag.payload(), &options).unwrap();
//! bag.verify(&stage).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ocfl_core::bagit::{self, BagError};
use ocfl_core::digest::{Digest, DigestAlgorithm};

use crate::stage::Stage;

/// Why a bag cannot be committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tag file could not be read.
    #[error("bag {}: {} cannot be read: {source}", bag.display(), file)]
    Unreadable {
        /// The bag's base directory.
        bag: PathBuf,
        /// The tag file or directory.
        file: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A tag file is malformed or not one this crate reads.
    #[error("bag {}: {source}", bag.display())]
    Tag {
        /// The bag's base directory.
        bag: PathBuf,
        /// What is wrong.
        #[source]
        source: BagError,
    },
    /// The bag is not complete or not usable (no payload directory, no manifest, a
    /// `fetch.txt` with entries, a manifest entry outside the payload).
    #[error("bag {}: {reason}", bag.display())]
    Incomplete {
        /// The bag's base directory.
        bag: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A file's checksum is not the one a manifest gives.
    #[error("bag {}: {file}: {algorithm} checksum is {actual}, but {manifest} says {expected}", bag.display())]
    Mismatch {
        /// The bag's base directory.
        bag: PathBuf,
        /// The file, relative to the bag's base directory.
        file: String,
        /// The manifest that lists it.
        manifest: String,
        /// The algorithm.
        algorithm: DigestAlgorithm,
        /// The manifest's checksum.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// A payload file no manifest lists, or a listed file the payload lacks.
    #[error("bag {}: {file}: {reason}", bag.display())]
    Unlisted {
        /// The bag's base directory.
        bag: PathBuf,
        /// The file, relative to the bag's base directory.
        file: String,
        /// `is in no manifest` or `is listed in ... but missing`.
        reason: String,
    },
}

/// A bag's declaration and payload manifests, read and checked (its tag manifests are
/// verified when it is opened: tag files are small).
#[derive(Debug, Clone)]
pub struct Bag {
    dir: PathBuf,
    /// manifest file name -> (algorithm, payload-relative path -> checksum).
    manifests: BTreeMap<String, (DigestAlgorithm, BTreeMap<String, Digest>)>,
}

impl Bag {
    /// Reads the bag at `dir`: `bagit.txt`, every `manifest-ALG.txt` (at least one), every
    /// `tagmanifest-ALG.txt` (each tag file it lists is checked now), and refuses a bag with
    /// no `data/` directory or with entries in `fetch.txt`.
    pub fn open(dir: &Path) -> Result<Bag, Error> {
        let unreadable = |file: &str, source: io::Error| Error::Unreadable {
            bag: dir.to_owned(),
            file: file.to_owned(),
            source,
        };
        let tag = |source: BagError| Error::Tag {
            bag: dir.to_owned(),
            source,
        };
        let incomplete = |reason: &str| Error::Incomplete {
            bag: dir.to_owned(),
            reason: reason.to_owned(),
        };
        let declaration = read_tag(dir, bagit::DECLARATION_FILE).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => incomplete("has no bagit.txt: it is not a BagIt bag"),
            _ => unreadable(bagit::DECLARATION_FILE, e),
        })?;
        bagit::check_declaration(&declaration).map_err(tag)?;
        match fs::symlink_metadata(dir.join(bagit::PAYLOAD_DIR)) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(incomplete("data is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(incomplete("has no payload directory data/"));
            }
            Err(e) => return Err(unreadable(bagit::PAYLOAD_DIR, e)),
        }
        match read_tag(dir, bagit::FETCH_FILE) {
            Ok(bytes) if bytes.iter().any(|b| !b.is_ascii_whitespace()) => {
                return Err(incomplete(
                    "lists files to fetch in fetch.txt: fetch them into data/ first",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(unreadable(bagit::FETCH_FILE, e)),
        }
        let mut names: Vec<String> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| unreadable(".", e))? {
            let entry = entry.map_err(|e| unreadable(".", e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let mut manifests = BTreeMap::new();
        let mut tag_manifests = Vec::new();
        for name in names {
            let Some(kind) = bagit::manifest_kind(&name) else {
                continue;
            };
            let (is_tag, algorithm) = kind.map_err(tag)?;
            let bytes = read_tag(dir, &name).map_err(|e| unreadable(&name, e))?;
            let entries = bagit::parse_manifest(&name, &bytes).map_err(tag)?;
            if is_tag {
                tag_manifests.push((name, algorithm, entries));
                continue;
            }
            let mut payload = BTreeMap::new();
            for (path, digest) in entries {
                let Some(relative) = path
                    .strip_prefix(bagit::PAYLOAD_DIR)
                    .and_then(|p| p.strip_prefix('/'))
                else {
                    return Err(incomplete(&format!(
                        "{name} lists {path:?}, which is not in the payload directory data/"
                    )));
                };
                payload.insert(relative.to_owned(), digest);
            }
            manifests.insert(name, (algorithm, payload));
        }
        if manifests.is_empty() {
            return Err(incomplete("has no payload manifest (manifest-ALG.txt)"));
        }
        let bag = Bag {
            dir: dir.to_owned(),
            manifests,
        };
        for (name, algorithm, entries) in tag_manifests {
            bag.verify_tag_files(&name, algorithm, &entries)?;
        }
        Ok(bag)
    }

    /// The payload directory, whose files are the new version's content.
    pub fn payload(&self) -> PathBuf {
        self.dir.join(bagit::PAYLOAD_DIR)
    }

    /// The manifests' algorithms other than `content` (whose checksums are the content
    /// digests themselves): the fixity algorithms to stage the payload with.
    pub fn fixity_algorithms(&self, content: DigestAlgorithm) -> Vec<DigestAlgorithm> {
        let mut algorithms: Vec<DigestAlgorithm> = Vec::new();
        for (algorithm, _) in self.manifests.values() {
            if *algorithm != content && !algorithms.contains(algorithm) {
                algorithms.push(*algorithm);
            }
        }
        algorithms
    }

    /// Checks `stage` (the payload staged with [`Bag::fixity_algorithms`]) against every
    /// payload manifest: each staged file listed with the checksum it has, each listed file
    /// staged. The first difference, in path order, names the file.
    pub fn verify(&self, stage: &Stage) -> Result<(), Error> {
        let bag_path = |path: &str| format!("{}/{path}", bagit::PAYLOAD_DIR);
        for (logical, file) in stage.files() {
            let path = logical.as_str();
            let mut listed = false;
            for (manifest, (algorithm, entries)) in &self.manifests {
                let Some(expected) = entries.get(path) else {
                    continue;
                };
                listed = true;
                let actual = if *algorithm == stage.digest_algorithm() {
                    Some(&file.digest)
                } else {
                    file.fixity
                        .iter()
                        .find(|(a, _)| a == algorithm)
                        .map(|(_, d)| d)
                };
                let Some(actual) = actual else {
                    return Err(Error::Incomplete {
                        bag: self.dir.clone(),
                        reason: format!("{algorithm} was not computed when the payload was staged"),
                    });
                };
                if !actual.matches(expected.as_str()) {
                    return Err(Error::Mismatch {
                        bag: self.dir.clone(),
                        file: bag_path(path),
                        manifest: manifest.clone(),
                        algorithm: *algorithm,
                        expected: expected.as_str().to_owned(),
                        actual: actual.as_str().to_owned(),
                    });
                }
            }
            if !listed {
                return Err(Error::Unlisted {
                    bag: self.dir.clone(),
                    file: bag_path(path),
                    reason: "is in the payload but in no manifest".to_owned(),
                });
            }
        }
        let staged: std::collections::HashSet<&str> =
            stage.files().keys().map(|l| l.as_str()).collect();
        for (manifest, (_, entries)) in &self.manifests {
            for path in entries.keys() {
                if !staged.contains(path.as_str()) {
                    return Err(Error::Unlisted {
                        bag: self.dir.clone(),
                        file: bag_path(path),
                        reason: format!("is listed in {manifest} but missing from the payload"),
                    });
                }
            }
        }
        Ok(())
    }

    fn verify_tag_files(
        &self,
        manifest: &str,
        algorithm: DigestAlgorithm,
        entries: &[(String, Digest)],
    ) -> Result<(), Error> {
        for (path, expected) in entries {
            if path.starts_with(&format!("{}/", bagit::PAYLOAD_DIR)) {
                return Err(Error::Incomplete {
                    bag: self.dir.clone(),
                    reason: format!("{manifest} lists the payload file {path:?}"),
                });
            }
            let bytes = read_tag(&self.dir, path).map_err(|source| Error::Unreadable {
                bag: self.dir.clone(),
                file: path.clone(),
                source,
            })?;
            let actual = algorithm.digest_bytes(&bytes);
            if !actual.matches(expected.as_str()) {
                return Err(Error::Mismatch {
                    bag: self.dir.clone(),
                    file: path.clone(),
                    manifest: manifest.to_owned(),
                    algorithm,
                    expected: expected.as_str().to_owned(),
                    actual: actual.as_str().to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Reads the tag file `name` (relative to the bag, checked by the manifest parser to stay
/// inside it), refusing a symbolic link.
fn read_tag(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    let path = dir.join(name);
    if fs::symlink_metadata(&path)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link",
        ));
    }
    fs::read(path)
}
