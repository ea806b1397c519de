//! The storage root's settings for `ocfl` itself: `ocfl-cli.json`, a direct child of the root.
//!
//! They are not OCFL: the specification lets a storage root hold other files and makes
//! validators ignore them (1.1 section 4.1, E087), so the file travels with the root (copies,
//! backups, other hosts) without making it invalid to any OCFL tool. Today it holds one
//! setting, the content digest algorithm `ocfl commit` gives new objects:
//! `{"digestAlgorithm": "sha256"}`. A root without the file (made by another tool) means the
//! defaults. `ocfl init` always writes it, so a root says what it was created with even when
//! that is the default, and a later change of our default cannot change what it means.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::storage::{LocalStorage, Storage};
use serde::{Deserialize, Serialize};

/// The settings file's name in the storage root.
pub const FILE_NAME: &str = "ocfl-cli.json";

/// What `ocfl-cli.json` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootSettings {
    /// The content digest algorithm of new objects (sha512 or sha256).
    pub digest_algorithm: DigestAlgorithm,
}

impl Default for RootSettings {
    /// sha512, as OCFL recommends.
    fn default() -> RootSettings {
        RootSettings {
            digest_algorithm: DigestAlgorithm::Sha512,
        }
    }
}

/// The file's JSON form. Unknown fields are refused rather than ignored: a misspelt setting
/// silently falling back to the default would give objects an algorithm nobody chose.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Form {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest_algorithm: Option<String>,
}

impl RootSettings {
    /// The settings of the storage root at `root`: `None` if it has no settings file (the
    /// defaults apply), an error naming the file if it cannot be read or says something we
    /// do not understand.
    pub fn read(root: &Path) -> Result<Option<RootSettings>> {
        let path = root.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            // No file, or no root at all (the command's own checks report that better).
            Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(None);
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading root settings {}", path.display()));
            }
        };
        let settings = RootSettings::parse(&bytes).with_context(|| {
            format!(
                "root settings {}: fix or remove the file (without it new objects use sha512)",
                path.display()
            )
        })?;
        Ok(Some(settings))
    }

    /// [`RootSettings::read`] through the root's storage (a local directory or a bucket
    /// prefix); `shown` names the root in errors.
    pub fn read_storage(storage: &dyn Storage, shown: &str) -> Result<Option<RootSettings>> {
        let bytes = match storage.read(FILE_NAME) {
            Ok(bytes) => bytes,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading root settings {FILE_NAME} of {shown}"));
            }
        };
        let settings = RootSettings::parse(&bytes)
            .with_context(|| format!("root settings {FILE_NAME} of {shown}"))?;
        Ok(Some(settings))
    }

    fn parse(bytes: &[u8]) -> Result<RootSettings> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).context("not a valid settings file")?;
        // serde would also read a struct from an array of its fields in order.
        if !json.is_object() {
            bail!("not a valid settings file: expected a JSON object");
        }
        let form: Form = serde_json::from_value(json).context("not a valid settings file")?;
        let mut settings = RootSettings::default();
        if let Some(name) = form.digest_algorithm {
            settings.digest_algorithm = DigestAlgorithm::from_name(&name)
                .filter(|a| a.is_content_algorithm())
                .ok_or_else(|| {
                    anyhow!("digestAlgorithm {name:?} is not an OCFL content digest algorithm (sha512 or sha256)")
                })?;
        }
        Ok(settings)
    }

    /// Writes the settings into the storage root at `root`, atomically and durably (a
    /// temporary file, flushed, renamed into place, the directory flushed).
    pub fn write(&self, root: &Path) -> Result<()> {
        let form = Form {
            digest_algorithm: Some(self.digest_algorithm.name().to_owned()),
        };
        let mut bytes = serde_json::to_vec_pretty(&form).context("encoding root settings")?;
        bytes.push(b'\n');
        LocalStorage::new(root)
            .write_atomic(FILE_NAME, &bytes)
            .with_context(|| format!("writing root settings {}", root.join(FILE_NAME).display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let settings = RootSettings {
            digest_algorithm: DigestAlgorithm::Sha256,
        };
        settings.write(dir.path())?;
        let text = fs::read_to_string(dir.path().join(FILE_NAME))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(json, serde_json::json!({"digestAlgorithm": "sha256"}));
        assert_eq!(RootSettings::read(dir.path())?, Some(settings));
        Ok(())
    }

    #[test]
    fn a_missing_file_says_nothing_and_a_missing_setting_means_sha512() -> Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(RootSettings::read(dir.path())?, None);
        assert_eq!(
            RootSettings::parse(b"{}")?.digest_algorithm,
            DigestAlgorithm::Sha512
        );
        Ok(())
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            &b"not json"[..],
            br#"{"digestAlgorithm": "md5"}"#,
            br#"{"digestAlgorithm": "sha3"}"#,
            br#"{"digestAlgorithm": 256}"#,
            br#"{"digestAlgoritm": "sha256"}"#,
            br#"["sha256"]"#,
        ] {
            assert!(
                RootSettings::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
