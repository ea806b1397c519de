use ocfl_core::digest::DigestAlgorithm;
use ocfl_plan::plan::{Outcome, PlanOptions};
use ocfl_plan::stage::StageOptions;
use proptest::prelude::*;

use crate::util::*;

/// File names that never conflict with each other as file and directory: deep paths,
/// spaces, Unicode in several scripts and normalisation forms.
const PATHS: &[&str] = &[
    "a.txt",
    "b.txt",
    "data/file1.txt",
    "data/file2.txt",
    "data/nested/deeper/still/deepest/leaf.bin",
    "with space/x y.txt",
    "é/ü.txt",
    "e\u{301}.txt",
    "日本/語.md",
    ".hidden",
    "v1/content/looks-like-ocfl",
    "z/inventory.json",
];

/// Few distinct contents, so that duplicates within a version and content reused across
/// versions (renames, reverts) are common.
const CONTENTS: &[&[u8]] = &[
    b"",
    b"alpha",
    b"beta\n",
    b"gamma gamma gamma",
    &[0, 255, 1, 254],
];

fn tree_strategy() -> impl Strategy<Value = Tree> {
    proptest::collection::btree_map(0..PATHS.len(), 0..CONTENTS.len(), 0..8).prop_map(|m| {
        m.into_iter()
            .map(|(p, c)| (PATHS[p].to_owned(), CONTENTS[c].to_vec()))
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Settings {
    sha256: bool,
    padding: Option<u8>,
    content_directory: Option<&'static str>,
    fixity: bool,
}

fn settings_strategy() -> impl Strategy<Value = Settings> {
    (
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(3u8))],
        prop_oneof![Just(None), Just(Some("data"))],
        any::<bool>(),
    )
        .prop_map(|(sha256, padding, content_directory, fixity)| Settings {
            sha256,
            padding,
            content_directory,
            fixity,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Successive source trees committed as versions give an object our validator accepts,
    /// whose every version reconstructs exactly the tree committed as that version.
    #[test]
    fn committed_versions_reconstruct_exactly(
        trees in proptest::collection::vec(tree_strategy(), 1..5),
        settings in settings_strategy(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source");
        let object = "root/objects/o1";
        let algorithm = if settings.sha256 { DigestAlgorithm::Sha256 } else { DigestAlgorithm::Sha512 };
        let stage_options = StageOptions {
            digest_algorithm: algorithm,
            fixity: if settings.fixity { vec![DigestAlgorithm::Md5] } else { Vec::new() },
            ..StageOptions::default()
        };
        let mut committed: Vec<(String, Tree)> = Vec::new();
        for (i, tree) in trees.iter().enumerate() {
            write_tree(&source, tree);
            let mut options = PlanOptions::new("info:example/o1", object, format!("root.ocfl-work/run-{i}"));
            if committed.is_empty() {
                options.digest_algorithm = Some(algorithm);
                options.padding = settings.padding;
                options.content_directory = settings.content_directory.map(str::to_owned);
            }
            options.fixity = stage_options.fixity.clone();
            options.message = Some(format!("version {i}"));
            let when = u32::try_from(i + 1).expect("few versions");
            match commit(dir.path(), &source, &options, &stage_options, when).expect("commit") {
                Outcome::Update(plan) => committed.push((plan.version.to_string(), tree.clone())),
                Outcome::NoChange { head } => {
                    let (last_name, last_tree) = committed.last().expect("no change needs a version");
                    prop_assert_eq!(&head.to_string(), last_name);
                    prop_assert_eq!(last_tree, tree);
                }
            }
            assert_valid(dir.path(), object);
        }
        for (version, tree) in &committed {
            prop_assert_eq!(&reconstruct(dir.path(), object, version), tree, "version {}", version);
        }
        prop_assert_eq!(head(dir.path(), object), committed.last().expect("one version").0.clone());
        prop_assert!(!dir.path().join("root.ocfl-work").join("run-0").exists());
    }
}
