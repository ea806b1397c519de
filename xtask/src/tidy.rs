//! `cargo xtask tidy`: checks of the repository itself. First what no compiler checks:
//! ARCHITECTURE.md names every crate (a `### \`DIR\`` section each) and, in the crate's
//! section, every top-level module (`src/NAME.rs` or `src/NAME/`), so that its code map
//! stays a one-hop guide; its test runs the same check in `cargo test`, so CI needs no extra
//! step. Then (unless `--architecture-only`) formatting, clippy with warnings denied, and
//! rustdoc with warnings denied (broken intra-doc links among them).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub fn run(architecture_only: bool) -> anyhow::Result<ExitCode> {
    let problems = architecture_problems(&crate::workspace_root())?;
    for problem in &problems {
        println!("{problem}");
    }
    if !problems.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if architecture_only {
        return Ok(ExitCode::SUCCESS);
    }
    let passed = crate::ci::run_steps(&crate::ci::STEPS[..2], &[])?
        // rustdoc's warnings (broken or private intra-doc links) fail the step.
        && crate::ci::run_steps(
            &[&["doc", "--workspace", "--no-deps"]],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )?;
    Ok(crate::ci::exit_code(passed))
}

/// What ARCHITECTURE.md misses: crates without a section, modules their section does not
/// name.
pub fn architecture_problems(workspace: &Path) -> anyhow::Result<Vec<String>> {
    let path = workspace.join("ARCHITECTURE.md");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let sections = sections(&text);
    let mut problems = Vec::new();
    for dir in crate_dirs(workspace)? {
        let Some(section) = sections.get(&dir) else {
            problems.push(format!("ARCHITECTURE.md has no section \"### `{dir}`\""));
            continue;
        };
        for module in top_level_modules(&workspace.join(&dir).join("src"))? {
            let (file, folder) = (format!("{module}.rs"), format!("{module}/"));
            if !section.contains(&file) && !section.contains(&folder) {
                problems.push(format!(
                    "ARCHITECTURE.md, section {dir}: module {module} ({file} or {folder}) is not named"
                ));
            }
        }
    }
    Ok(problems)
}

/// The text of each `### \`NAME\`` section, by name.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            if let Some((name, body)) = current.take() {
                sections.insert(name, body);
            }
            current = line
                .strip_prefix("### `")
                .and_then(|rest| rest.strip_suffix('`'))
                .map(|name| (name.trim_end_matches('/').to_owned(), String::new()));
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((name, body)) = current {
        sections.insert(name, body);
    }
    sections
}

/// `crates/*`, `benches/*` and `xtask`: every directory holding a Cargo.toml.
fn crate_dirs(workspace: &Path) -> anyhow::Result<Vec<String>> {
    let mut dirs = vec!["xtask".to_owned()];
    for parent in ["crates", "benches"] {
        let entries = std::fs::read_dir(workspace.join(parent))
            .with_context(|| format!("listing {parent}/"))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {parent}/"))?;
            if entry.path().join("Cargo.toml").is_file() {
                dirs.push(format!("{parent}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The modules of `src`: `NAME.rs` files (but the crate roots) and directories.
fn top_level_modules(src: &Path) -> anyhow::Result<Vec<String>> {
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
        let entry = entry.with_context(|| format!("listing {}", src.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            modules.push(name);
        } else if let Some(module) = name.strip_suffix(".rs")
            && !matches!(module, "lib" | "main")
        {
            modules.push(module.to_owned());
        }
    }
    modules.sort();
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_names_every_crate_and_module() {
        let problems = architecture_problems(&crate::workspace_root()).expect("readable workspace");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_module_outside_its_crates_section_is_reported() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for path in ["crates/a/src/named", "crates/b/src", "benches", "xtask/src"] {
            std::fs::create_dir_all(dir.path().join(path)).expect("mkdir");
        }
        for file in [
            "crates/a/Cargo.toml",
            "crates/a/src/lib.rs",
            "crates/a/src/missing.rs",
            "crates/b/Cargo.toml",
            "xtask/Cargo.toml",
            "xtask/src/main.rs",
        ] {
            std::fs::write(dir.path().join(file), "").expect("write");
        }
        std::fs::write(
            dir.path().join("ARCHITECTURE.md"),
            "## Code map\n\n### `crates/a`\n\n`named/`\n\n### `xtask`\n\n`missing.rs`\n",
        )
        .expect("write");
        let problems = architecture_problems(dir.path()).expect("checked");
        assert_eq!(
            problems,
            [
                "ARCHITECTURE.md, section crates/a: module missing (missing.rs or missing/) is not named",
                "ARCHITECTURE.md has no section \"### `crates/b`\"",
            ]
        );
    }
}
