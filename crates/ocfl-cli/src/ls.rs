//! `ocfl ls`: the objects of the storage root, or the files of one version of an object
//! (those matching glob patterns; with `--long` their sizes and the versions that last
//! changed them).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ocfl_core::inventory::FileRef;
use ocfl_core::object::{ListedObject, ObjectSummary, last_changed};
use ocfl_core::storage::join;
use serde_json::json;

use crate::args::{GlobalArgs, LsArgs, UsageError};
use crate::open::{open_root, root_storage};

/// Lists objects (no id) or one version's files.
pub fn run(global: &GlobalArgs, args: &LsArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "ls")?;
    let root = open_root(&storage)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let Some(id) = &args.id else {
        let listed = root
            .list_objects()
            .with_context(|| crate::open::in_root(&storage.name()))?;
        let code = print_objects(global, listed, &mut out)?;
        out.flush().context("writing the listing")?;
        return Ok(code);
    };
    let patterns = patterns(&args.patterns)?;
    // `--long` needs every version (which changed each file last): the whole model. The
    // rest needs one version, read without building it.
    let (object, read);
    let entries;
    let (version, object_path, changed, files): (_, _, _, Box<dyn Iterator<Item = FileRef<'_>>>) =
        if args.long {
            object = crate::mutable_head::open(&storage, &root, id, &args.head, global.quiet)?;
            let (version, _) = object.version(args.version)?;
            entries = object.files(args.version)?;
            (
                version,
                object.path().to_owned(),
                last_changed(object.inventory(), version),
                Box::new(entries.iter().map(|f| FileRef {
                    path: f.path.as_str(),
                    digest: f.digest.as_str(),
                    content_path: f.content_path.as_str(),
                })),
            )
        } else {
            read = crate::mutable_head::read_version(
                &storage,
                &root,
                id,
                &args.head,
                args.version,
                global.quiet,
            )?;
            (
                read.files.version(),
                String::new(),
                None,
                Box::new(read.files.iter()),
            )
        };
    let mut listed = 0usize;
    for file in files {
        if !patterns.as_ref().is_none_or(|set| set.is_match(file.path)) {
            continue;
        }
        listed += 1;
        let long = match &changed {
            Some(changed) => Some(Long {
                size: storage
                    .storage()
                    .size(&join(&object_path, file.content_path))
                    .with_context(|| format!("object {id}: size of {}", file.content_path))?,
                changed: changed
                    .get(file.path)
                    .map_or_else(String::new, ToString::to_string),
            }),
            None => None,
        };
        if global.json {
            let mut line = json!({
                "path": file.path,
                "digest": file.digest,
                "content_path": file.content_path,
            });
            if let Some(long) = &long {
                line["size"] = json!(long.size);
                line["changed"] = json!(long.changed);
            }
            writeln!(out, "{line}")
        } else if let Some(long) = &long {
            writeln!(
                out,
                "{:>12}  {}  {:<5}  {}",
                long.size, file.digest, long.changed, file.path
            )
        } else if global.verbose {
            writeln!(out, "{}  {}", file.digest, file.path)
        } else {
            writeln!(out, "{}", file.path)
        }
        .context("writing the listing")?;
    }
    out.flush().context("writing the listing")?;
    if listed == 0 && patterns.is_some() {
        // As `ls` does for a name that is not there: the caller asked for something specific.
        eprintln!(
            "ocfl: error: object {id}: no file of {version} matches {}",
            args.patterns.join(" or ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--long` adds to a file's line.
struct Long {
    size: u64,
    changed: String,
}

/// The glob patterns as one matcher (`None`: every file). `*` and `?` do not cross a `/`;
/// `**` does. A bad pattern is a usage error.
fn patterns(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| UsageError(format!("pattern {pattern:?}: {}", e.kind())))?;
        set.add(glob);
    }
    Ok(Some(set.build().map_err(|e| UsageError(e.to_string()))?))
}

/// Prints readable objects sorted by id; reports the others on stderr (exit status 1).
fn print_objects(
    global: &GlobalArgs,
    listed: Vec<ListedObject>,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut objects: Vec<(String, ObjectSummary)> = Vec::new();
    let mut unreadable = 0usize;
    for entry in listed {
        match entry.summary {
            Ok(summary) => objects.push((entry.path, summary)),
            Err(err) => {
                unreadable += 1;
                eprintln!("ocfl: error: object at {}: {err}", entry.path);
            }
        }
    }
    objects.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    for (path, summary) in &objects {
        if global.json {
            let line = json!({
                "id": summary.id,
                "head": summary.head.to_string(),
                "path": path,
            });
            writeln!(out, "{line}")
        } else if global.verbose {
            writeln!(out, "{}  {}  {path}", summary.id, summary.head)
        } else {
            writeln!(out, "{}", summary.id)
        }
        .context("writing the listing")?;
    }
    if unreadable > 0 {
        eprintln!(
            "ocfl: {unreadable} of {} objects could not be read",
            objects.len() + unreadable
        );
    } else if global.verbose {
        eprintln!("{} objects", objects.len());
    }
    Ok(if unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
