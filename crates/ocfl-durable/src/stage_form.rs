//! The stage as a blob: compact JSON with one entry per file, the source directory once.

use std::collections::BTreeMap;
use std::path::Path;

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::path::LogicalPath;
use ocfl_plan::stage::{Stage, StagedFile};
use serde::{Deserialize, Serialize};

use crate::refusal::{ActivityError, RefusalKind};

#[derive(Serialize, Deserialize)]
struct StageForm {
    digest_algorithm: String,
    fixity_algorithms: Vec<String>,
    source: String,
    files: Vec<FileForm>,
}

#[derive(Serialize, Deserialize)]
struct FileForm {
    path: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fixity: Vec<String>,
}

/// `stage`, read from `source`, as bytes. Every staged file's source is `source/<path>`.
pub(crate) fn encode(stage: &Stage, source: &str) -> Vec<u8> {
    let form = StageForm {
        digest_algorithm: stage.digest_algorithm().name().to_owned(),
        fixity_algorithms: stage
            .fixity_algorithms()
            .iter()
            .map(|a| a.name().to_owned())
            .collect(),
        source: source.to_owned(),
        files: stage
            .files()
            .iter()
            .map(|(logical, file)| FileForm {
                path: logical.as_str().to_owned(),
                digest: file.digest.as_str().to_owned(),
                size: file.size,
                fixity: file
                    .fixity
                    .iter()
                    .map(|(_, d)| d.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    };
    // Plain strings and numbers: serialization cannot fail.
    serde_json::to_vec(&form).unwrap_or_default()
}

/// The stage `encode` wrote.
pub(crate) fn decode(bytes: &[u8]) -> Result<Stage, ActivityError> {
    let corrupt = |why: String| {
        ActivityError::refused(RefusalKind::Configuration, format!("recorded stage: {why}"))
    };
    let form: StageForm = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
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
                source: source.join(&file.path),
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
        let decoded = decode(&encode(&stage, source)).expect("decode");
        assert_eq!(decoded, stage);
    }

    #[test]
    fn garbage_is_refused_not_retried() {
        assert!(matches!(
            decode(b"{not json"),
            Err(ActivityError::Refused(r)) if r.kind == RefusalKind::Configuration
        ));
    }
}
