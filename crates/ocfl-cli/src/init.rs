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
    #[cfg(feature = "s3")]
    if let Some(ocfl_core::location::Location::S3(location)) = &global.root {
        return init_s3(global, args, location);
    }
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

/// `ocfl init` on `s3://BUCKET/PREFIX`: the declaration, the layout and the settings
/// (`ocfl-cli.json`) written as keys below the prefix, which must hold no key yet.
#[cfg(feature = "s3")]
fn init_s3(
    global: &GlobalArgs,
    args: &InitArgs,
    location: &ocfl_core::location::S3Location,
) -> Result<ExitCode> {
    let layout = configured_layout(args)?;
    let storage = ocfl_object_store::S3Builder::new(location.clone())
        .build()
        .with_context(|| format!("storage root {location}"))?;
    let present = storage
        .list("")
        .with_context(|| format!("storage root {location}"))?;
    if !present.is_empty() {
        bail!("refusing to create a storage root in {location}: keys already exist below it");
    }
    let options = InitOptions {
        spec_version: args.spec,
        layout: Some(layout.clone()),
    };
    // The settings complete the root: a root whose settings could not be written is taken
    // back (best effort; the prefix held no key before), as a failed init on disk is.
    let settings = RootSettings {
        digest_algorithm: args.digest,
    };
    let made = init_storage_root(&storage, &options)
        .with_context(|| format!("creating storage root {location}"))
        .and_then(|()| {
            settings.write_storage(&storage, &storage.url(crate::root_settings::FILE_NAME))
        });
    if let Err(err) = made {
        let _ = storage.remove("");
        return Err(err);
    }
    if global.json {
        let line = serde_json::json!({
            "root": location.to_string(),
            "spec": args.spec.as_str(),
            "layout": layout.name(),
            "digest": args.digest.name(),
        });
        println!("{line}");
    }
    if !global.quiet {
        eprintln!(
            "created OCFL {} storage root {location} (layout {})",
            args.spec,
            layout.name()
        );
    }
    Ok(ExitCode::SUCCESS)
}
