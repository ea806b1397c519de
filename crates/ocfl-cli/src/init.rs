//! `ocfl init`: create a storage root.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::Layout;
use ocfl_core::storage::LocalStorage;

use crate::args::{GlobalArgs, InitArgs};
use crate::root_settings::RootSettings;

/// Creates the storage root at `--root`.
pub fn run(global: &GlobalArgs, args: &InitArgs) -> Result<ExitCode> {
    let root = crate::open::local_root(global, "init")?;
    let layout = configured_layout(args)?;
    refuse_non_empty(root)?;
    let options = InitOptions {
        spec_version: args.spec,
        layout: Some(layout.clone()),
    };
    let settings = RootSettings {
        digest_algorithm: args.digest,
    };
    let created_dir = !root.exists();
    let made = init_storage_root(&LocalStorage::new(root), &options)
        .with_context(|| format!("creating storage root {}", root.display()))
        .and_then(|()| settings.write(root));
    if let Err(err) = made {
        // The directory was empty (or absent) before: put it back that way, so a failed
        // init leaves nothing that looks like a half-made storage root.
        undo(root, created_dir);
        return Err(err);
    }
    if global.json {
        let line = serde_json::json!({
            "root": root.display().to_string(),
            "spec": args.spec.as_str(),
            "layout": layout.name(),
            "digest": args.digest.name(),
        });
        println!("{line}");
    }
    if !global.quiet {
        eprintln!(
            "created OCFL {} storage root {} (layout {})",
            args.spec,
            root.display(),
            layout.name()
        );
    }
    if global.verbose {
        eprintln!(
            "content digest for new objects: {} (recorded in {})",
            args.digest.name(),
            root.join(crate::root_settings::FILE_NAME).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn configured_layout(args: &InitArgs) -> Result<Layout> {
    let config = args
        .layout_config
        .as_ref()
        .map(|path| {
            fs::read(path).with_context(|| format!("reading layout config {}", path.display()))
        })
        .transpose()?;
    let layout = Layout::from_config(&args.layout, config.as_deref());
    match (&args.layout_config, layout) {
        (_, Ok(layout)) => Ok(layout),
        (Some(path), Err(err)) => {
            Err(err).with_context(|| format!("layout config {}", path.display()))
        }
        (None, Err(err)) => Err(err).context(
            "the layout's defaults are not enough; give its parameters with --layout-config FILE",
        ),
    }
}

/// A clearer message than the library's for the common mistake of pointing at a directory
/// that already holds something.
fn refuse_non_empty(root: &Path) -> Result<()> {
    match fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "refusing to create a storage root in {}: the directory is not empty",
                    root.display()
                );
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) if root.is_file() => {
            Err(err).with_context(|| format!("{} exists and is not a directory", root.display()))
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", root.display())),
    }
}

/// Best-effort removal of what a failed init wrote into a directory that was empty.
fn undo(root: &Path, created_dir: bool) {
    if created_dir {
        let _ = fs::remove_dir_all(root);
        return;
    }
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}
