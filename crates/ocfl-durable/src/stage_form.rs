//! The stage as a blob: compact JSON with one entry per file, the source directory once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::path::LogicalPath;
use ocfl_plan::stage::{Stage, StagedFile};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

use crate::refusal::{ActivityError, RefusalKind};

/// The form `decode` reads back.
#[derive(Deserialize)]
struct StageForm {
    digest_algorithm: String,
    fixity_algorithms: Vec<String>,
    source: String,
    files: Vec<FileForm>,
}

#[derive(Deserialize)]
struct FileForm {
    path: String,
    digest: String,
    size: u64,
    #[serde(default)]
    fixity: Vec<String>,
    /// The file's source when it is not `source/<path>` (a file added by an edit).
    #[serde(default)]
    src: Option<String>,
}

/// The stage written straight from its own data: no copy of its strings is made.
struct StageOut<'a> {
    stage: &'a Stage,
    source: &'a str,
}

impl Serialize for StageOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stage = self.stage;
        let mut form = serializer.serialize_struct("StageForm", 4)?;
        form.serialize_field("digest_algorithm", stage.digest_algorithm().name())?;
        let fixity: Vec<&str> = stage.fixity_algorithms().iter().map(|a| a.name()).collect();
        form.serialize_field("fixity_algorithms", &fixity)?;
        form.serialize_field("source", self.source)?;
        form.serialize_field("files", &FilesOut(stage, Path::new(self.source)))?;
        form.end()
    }
}

struct FilesOut<'a>(&'a Stage, &'a Path);

impl Serialize for FilesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.files().iter().map(|(logical, file)| FileOut {
            logical,
            file,
            source: self.1,
        }))
    }
}

struct FileOut<'a> {
    logical: &'a LogicalPath,
    file: &'a StagedFile,
    source: &'a Path,
}

impl Serialize for FileOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let file = self.file;
        // Comparing components, not building `source/<path>`: one allocation fewer per file.
        let elsewhere = file
            .source
            .strip_prefix(self.source)
            .map_or(true, |rest| rest != Path::new(self.logical.as_str()));
        let fields = 3 + usize::from(!file.fixity.is_empty()) + usize::from(elsewhere);
        let mut form = serializer.serialize_struct("FileForm", fields)?;
        if elsewhere {
            let src = file.source.to_str().ok_or_else(|| {
                serde::ser::Error::custom(format!("{}: not UTF-8", file.source.display()))
            })?;
            form.serialize_field("src", src)?;
        }
        form.serialize_field("path", self.logical.as_str())?;
        form.serialize_field("digest", file.digest.as_str())?;
        form.serialize_field("size", &file.size)?;
        if !file.fixity.is_empty() {
            let fixity: Vec<&str> = file.fixity.iter().map(|(_, d)| d.as_str()).collect();
            form.serialize_field("fixity", &fixity)?;
        }
        form.end()
    }
}

/// Writes `stage`, read from `source`, to `out`. Every staged file's source is
/// `source/<path>`.
pub(crate) fn encode(stage: &Stage, source: &str, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(out, &StageOut { stage, source }).map_err(io::Error::from)
}

/// The stage `encode` wrote.
pub(crate) fn decode(bytes: &mut dyn Read) -> Result<Stage, ActivityError> {
    let corrupt = |why: String| {
        ActivityError::refused(RefusalKind::Configuration, format!("recorded stage: {why}"))
    };
    let form: StageForm = serde_json::from_reader(bytes).map_err(|e| corrupt(e.to_string()))?;
    let algorithm = |name: &str| {
        DigestAlgorithm::from_name(name).ok_or_else(|| corrupt(format!("unknown algorithm {name}")))
    };
    let digest_algorithm = algorithm(&form.digest_algorithm)?;
    let fixity_algorithms = form
        .fixity_algorithms
        .iter()
        .map(|name| algorithm(name))
        .collect::<Result<Vec<_>, _>>()?;
    let source = Path::new(&form.source);
    let mut files = BTreeMap::new();
    for file in form.files {
        let logical = LogicalPath::new(file.path.as_str()).map_err(|e| corrupt(e.to_string()))?;
        let fixity = fixity_algorithms
            .iter()
            .copied()
            .zip(file.fixity.iter().map(|d| Digest::new(d)))
            .collect();
        files.insert(
            logical,
            StagedFile {
                source: match file.src {
                    Some(src) => PathBuf::from(src),
                    None => source.join(&file.path),
                },
                digest: Digest::new(&file.digest),
                size: file.size,
                fixity,
            },
        );
    }
    Stage::from_parts(digest_algorithm, fixity_algorithms, files)
        .map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocfl_plan::stage::StageOptions;

    #[test]
    fn a_stage_survives_encoding() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        std::fs::write(dir.path().join("d/a.txt"), b"a").expect("write");
        std::fs::write(dir.path().join("b"), b"bb").expect("write");
        let options = StageOptions {
            fixity: vec![DigestAlgorithm::Md5],
            ..StageOptions::default()
        };
        let stage = Stage::from_directory(dir.path(), &options).expect("stage");
        let source = dir.path().to_str().expect("utf-8");
        let mut bytes = Vec::new();
        encode(&stage, source, &mut bytes).expect("encode");
        let decoded = decode(&mut bytes.as_slice()).expect("decode");
        assert_eq!(decoded, stage);
    }

    #[test]
    fn an_edited_stage_keeps_each_added_file_s_own_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("added"), b"added").expect("write");
        let mut state = ocfl_core::inventory::State::new();
        state.insert(
            Digest::new("ab"),
            vec![LogicalPath::new("kept/file").expect("path")],
        );
        let edits = [ocfl_plan::stage::Edit::Add {
            source: dir.path().join("added"),
            dest: "new/name".into(),
        }];
        let stage = Stage::from_edits(
            &state,
            Path::new("/root/object"),
            &edits,
            &StageOptions::default(),
        )
        .expect("stage");
        let mut bytes = Vec::new();
        encode(&stage, "/root/object", &mut bytes).expect("encode");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert_eq!(text.matches("\"src\"").count(), 1, "{text}");
        assert_eq!(decode(&mut bytes.as_slice()).expect("decode"), stage);
    }

    #[test]
    fn garbage_is_refused_not_retried() {
        assert!(matches!(
            decode(&mut b"{not json".as_slice()),
            Err(ActivityError::Refused(r)) if r.kind == RefusalKind::Configuration
        ));
    }
}
