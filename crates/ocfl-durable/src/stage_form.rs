//! The stage as a blob: compact JSON with one entry per file, the source directory once. A
//! stage of file-level edits holds only what the edits changed (the added and moved files, the
//! removed paths) and names the object's state they apply to; the rest of the state is the
//! base inventory's, which planning holds anyway.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::inventory::State;
use ocfl_core::path::LogicalPath;
use ocfl_plan::plan::Base;
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
    /// For a stage of edits: the state they changed; `files` holds only what differs.
    #[serde(default)]
    edited: Option<EditedForm>,
}

/// The state a stage of edits changed, as recorded.
#[derive(Deserialize, Serialize)]
struct EditedForm {
    /// The number of the base's version whose state the edits changed.
    version: u32,
    /// The digest of the base's root inventory.
    base: String,
    /// The logical paths of that state the stage no longer holds there.
    removed: Vec<String>,
}

/// The state a stage of edits changed: version `version`'s of the base whose root inventory
/// has digest `base`.
pub(crate) struct EditedFrom<'a> {
    /// The number of the version whose state the edits changed.
    pub(crate) version: u32,
    /// The base's parsed root inventory and its digest.
    pub(crate) base: &'a Base,
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
    /// For a stage of edits: the state's files the stage holds unchanged (written as
    /// nothing), and what the blob records of that state.
    edited: Option<(HashSet<&'a str>, EditedForm)>,
}

impl Serialize for StageOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stage = self.stage;
        let mut form = serializer.serialize_struct("StageForm", 5)?;
        form.serialize_field("digest_algorithm", stage.digest_algorithm().name())?;
        let fixity: Vec<&str> = stage.fixity_algorithms().iter().map(|a| a.name()).collect();
        form.serialize_field("fixity_algorithms", &fixity)?;
        form.serialize_field("source", self.source)?;
        let unchanged = self.edited.as_ref().map(|(unchanged, _)| unchanged);
        form.serialize_field("files", &FilesOut(stage, Path::new(self.source), unchanged))?;
        if let Some((_, edited)) = &self.edited {
            form.serialize_field("edited", edited)?;
        }
        form.end()
    }
}

struct FilesOut<'a>(&'a Stage, &'a Path, Option<&'a HashSet<&'a str>>);

impl Serialize for FilesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let unchanged = |logical: &LogicalPath| {
            self.2
                .is_some_and(|unchanged| unchanged.contains(logical.as_str()))
        };
        serializer.collect_seq(
            self.0
                .files()
                .iter()
                .filter(|(logical, _)| !unchanged(logical))
                .map(|(logical, file)| FileOut {
                    logical,
                    file,
                    source: self.1,
                }),
        )
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
    let stage = StageOut {
        stage,
        source,
        edited: None,
    };
    serde_json::to_writer(out, &stage).map_err(io::Error::from)
}

/// Writes `stage`, made by edits of the state `from` names, whose files are recorded below
/// `source` (the object), to `out`: only the files that are not that state's own, unchanged
/// (same path, digest and recorded source, no fixity), and the state's paths the stage lacks.
pub(crate) fn encode_edits(
    stage: &Stage,
    source: &str,
    from: &EditedFrom<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let state = recorded_state(from)
        .ok_or_else(|| io::Error::other(format!("the base has no version {}", from.version)))?;
    let root = Path::new(source);
    let mut unchanged = HashSet::new();
    let mut removed = Vec::new();
    for (digest, paths) in state {
        for logical in paths {
            match stage.files().get(logical) {
                Some(file)
                    if file.digest == *digest
                        && file.fixity.is_empty()
                        && file.size == 0
                        && file.source.strip_prefix(root).ok()
                            == Some(Path::new(logical.as_str())) =>
                {
                    unchanged.insert(logical.as_str());
                }
                Some(_) => {}
                None => removed.push(logical.to_string()),
            }
        }
    }
    let edited = EditedForm {
        version: from.version,
        base: from.base.digest.as_str().to_owned(),
        removed,
    };
    let stage = StageOut {
        stage,
        source,
        edited: Some((unchanged, edited)),
    };
    serde_json::to_writer(out, &stage).map_err(io::Error::from)
}

/// The state of the base's version that `from` names.
fn recorded_state<'a>(from: &EditedFrom<'a>) -> Option<&'a State> {
    let inventory = &from.base.inventory;
    inventory
        .versions
        .iter()
        .find(|(v, _)| v.number() == from.version)
        .map(|(_, v)| &v.state)
}

/// The stage `encode` or `encode_edits` wrote. A stage of edits is whole only with the base
/// it was made on (`base`, whose digest must be the recorded one); without a base it holds
/// only the files the edits brought (added, moved, replaced): the content a plan's steps copy.
pub(crate) fn decode(bytes: &mut dyn Read, base: Option<&Base>) -> Result<Stage, ActivityError> {
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
    if let (Some(edited), Some(base)) = (&form.edited, base) {
        if edited.base != base.digest.as_str() {
            return Err(ActivityError::refused(
                RefusalKind::Plan,
                format!(
                    "the object's root inventory changed since its edits were staged (digest {}, staged on {}); nothing was written, commit again",
                    base.digest, edited.base
                ),
            ));
        }
        let from = EditedFrom {
            version: edited.version,
            base,
        };
        let state = recorded_state(&from)
            .ok_or_else(|| corrupt(format!("the base has no version {}", edited.version)))?;
        let removed: HashSet<&str> = edited.removed.iter().map(String::as_str).collect();
        for (digest, paths) in state {
            for logical in paths {
                if removed.contains(logical.as_str()) {
                    continue;
                }
                files.insert(
                    logical.clone(),
                    StagedFile {
                        source: source.join(logical.as_str()),
                        digest: digest.clone(),
                        size: 0,
                        fixity: Vec::new(),
                    },
                );
            }
        }
    }
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
        let decoded = decode(&mut bytes.as_slice(), None).expect("decode");
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
        assert_eq!(decode(&mut bytes.as_slice(), None).expect("decode"), stage);
    }

    /// A base of two versions (sha512 digests "aa..", "bb..", "cc..").
    fn two_versions() -> Base {
        let d = |c: char| c.to_string().repeat(128);
        let json = format!(
            r#"{{"id":"x","type":"https://ocfl.io/1.1/spec/#inventory","digestAlgorithm":"sha512",
            "head":"v2","contentDirectory":"content",
            "manifest":{{"{a}":["v1/content/a"],"{b}":["v1/content/b"],"{c}":["v2/content/c"]}},
            "versions":{{
              "v1":{{"created":"2020-01-01T00:00:00Z","state":{{"{a}":["a"],"{b}":["b"]}}}},
              "v2":{{"created":"2020-01-02T00:00:00Z","state":{{"{a}":["a","d/a"],"{b}":["b"],"{c}":["c"]}}}}}}}}"#,
            a = d('a'),
            b = d('b'),
            c = d('c')
        );
        let parsed = ocfl_core::inventory::parse_inventory(json.as_bytes());
        Base {
            inventory: parsed.inventory.expect("inventory"),
            digest: Digest::new("0123"),
        }
    }

    /// A stage of edits is recorded as what the edits changed on the base's state: the
    /// added, replaced and moved files and the removed paths, not one entry per file. With its
    /// base it reads back whole; with another base it is refused; without a base it holds the
    /// edits' files alone (what the steps copy).
    #[test]
    fn an_edit_stage_is_recorded_as_its_edits_on_the_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("added"), b"added").expect("write");
        let base = two_versions();
        let head = &base.inventory.versions[&base.inventory.head].state;
        let edits = [
            ocfl_plan::stage::Edit::Add {
                source: dir.path().join("added"),
                dest: "new/name".into(),
            },
            ocfl_plan::stage::Edit::Remove { path: "b".into() },
            ocfl_plan::stage::Edit::Move {
                from: "d".into(),
                to: "e".into(),
            },
        ];
        let stage = Stage::from_edits(
            head,
            Path::new("/root/object"),
            &edits,
            &StageOptions::default(),
        )
        .expect("stage");
        let from = EditedFrom {
            version: 2,
            base: &base,
        };
        let mut bytes = Vec::new();
        encode_edits(&stage, "/root/object", &from, &mut bytes).expect("encode");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        // The added and the moved file; "a" and "c" are the base's, "b" and "d/a" removed.
        assert_eq!(text.matches("\"path\"").count(), 2, "{text}");
        assert!(!text.contains(&"c".repeat(128)), "{text}");
        assert_eq!(
            decode(&mut bytes.as_slice(), Some(&base)).expect("decode"),
            stage
        );

        let mut other = two_versions();
        other.digest = Digest::new("4567");
        assert!(matches!(
            decode(&mut bytes.as_slice(), Some(&other)),
            Err(ActivityError::Refused(r)) if r.kind == RefusalKind::Plan
        ));
        let content = decode(&mut bytes.as_slice(), None).expect("decode");
        assert_eq!(content.len(), 2);
        let added = LogicalPath::new("new/name").expect("path");
        assert_eq!(content.files().get(&added), stage.files().get(&added));

        // Against the earlier version's state (an edit already applied, a revert).
        let v1 = &base.inventory.versions.iter().next().expect("v1").1.state;
        let stage = Stage::from_edits(v1, Path::new("/root/object"), &[], &StageOptions::default())
            .expect("stage");
        let from = EditedFrom {
            version: 1,
            base: &base,
        };
        let mut bytes = Vec::new();
        encode_edits(&stage, "/root/object", &from, &mut bytes).expect("encode");
        assert_eq!(
            decode(&mut bytes.as_slice(), Some(&base)).expect("decode"),
            stage
        );
        assert!(
            decode(&mut bytes.as_slice(), None)
                .expect("decode")
                .is_empty()
        );
    }

    #[test]
    fn garbage_is_refused_not_retried() {
        assert!(matches!(
            decode(&mut b"{not json".as_slice(), None),
            Err(ActivityError::Refused(r)) if r.kind == RefusalKind::Configuration
        ));
    }
}
