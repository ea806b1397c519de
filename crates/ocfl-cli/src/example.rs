//! `ocfl example`: the origin's example (README, "Set up and run") end to end: four files
//! committed to a new object as a durable run, each step shown as it completes.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::storage::LocalStorage;
use ocfl_durable::CommitRequest;

use crate::args::{ExampleArgs, GlobalArgs};
use crate::commit::{execute, outcome_json};
use crate::progress::Mode;
use crate::state::{Choice, work_area};

/// The example object's id (the origin's).
pub const OBJECT_ID: &str = "test:durable-task-example";

/// The example's files: logical path and contents (the origin's names and sizes).
const FILES: [(&str, &str); 4] = [
    ("data/file1.txt", "Hello from file 1!\n"),
    ("data/file2.txt", "Hello from file 2!\n"),
    (
        "metadata.json",
        "{\"title\": \"Example Object\", \"creator\": \"OCFL Example 1\"}\n",
    ),
    (
        "readme.txt",
        "An example OCFL object, written by a durable run.\n",
    ),
];

/// Sets up the example under `DIR` and commits it.
pub fn run(global: &GlobalArgs, args: &ExampleArgs) -> Result<ExitCode> {
    let storage = args.dir.join("example-storage");
    let content = args.dir.join("example-content");
    write_content(&content)?;
    let empty = fs::read_dir(&storage).map_or(true, |mut entries| entries.next().is_none());
    if empty {
        init_storage_root(&LocalStorage::new(&storage), &InitOptions::default())
            .with_context(|| format!("creating storage root {}", storage.display()))?;
        say(
            global,
            &format!("Created the storage root {}", storage.display()),
        );
    }
    let work = crate::site::Site::Local(work_area(global, &storage)?);
    let state = match Choice::of(global, &work)? {
        Choice::Embedded(path) => path.display().to_string(),
        Choice::Postgres(url) => url.describe(),
    };
    say(global, "OCFL update as a durable run");
    say(global, &format!("  storage root:  {}", storage.display()));
    say(global, &format!("  content:       {}", content.display()));
    say(global, &format!("  engine store:  {state}"));
    say(global, &format!("Updating object {OBJECT_ID}"));

    let request = CommitRequest::new(OBJECT_ID, &content)
        .message("Durable example update")
        .user("OCFL durable example", Some("https://ocfl.io/".to_owned()));
    // Every step gets its line, on a terminal too: showing them is the example's point.
    let mode = if global.quiet {
        Mode::Quiet
    } else {
        Mode::Lines
    };
    let outcome = execute(global, &work, &request, mode)?;
    if global.json {
        println!("{}", outcome_json(&outcome));
    } else if outcome.changed {
        println!("Object ID:   {}", outcome.object_id);
        println!("Version:     {}", outcome.version);
        println!("Steps:       {}", outcome.steps);
        println!("Total bytes: {}", outcome.bytes);
        println!("Run:         {}", outcome.run);
        say(
            global,
            "Run it again: the object already holds this content, so nothing needs doing.",
        );
    } else {
        println!(
            "Nothing to do: object {} already holds {} at {} (run {})",
            outcome.object_id,
            content.display(),
            outcome.version,
            outcome.run
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn say(global: &GlobalArgs, text: &str) {
    if !global.quiet {
        eprintln!("{text}");
    }
}

/// Writes the example's files unless the directory exists (an edited copy is committed as
/// it is: a new version).
fn write_content(content: &Path) -> Result<()> {
    if content.exists() {
        return Ok(());
    }
    for (path, text) in FILES {
        let file = content.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}
