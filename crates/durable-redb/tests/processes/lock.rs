//! The store belongs to one process at a time, and a dead holder leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use durable_core::backend::Backend;
use durable_core::testing::new_instance;
use durable_redb::{OpenError, RedbBackend};

use crate::{CHILD, STORE};

const HOUR: Duration = Duration::from_secs(3600);

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// Child: opens the store, leases instance "x" twice (abandoning the first lease), leaves the
/// second lease held for an hour, says "ready" and waits to be killed.
pub fn hold() -> Result<(), String> {
    let path = std::env::var(STORE).map_err(|error| error.to_string())?;
    runtime()?.block_on(async {
        let backend = RedbBackend::open(&path).map_err(|error| error.to_string())?;
        backend
            .create_instance(new_instance("x"))
            .await
            .map_err(|e| e.to_string())?;
        let first = backend
            .fetch_orchestration(HOUR, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no work")?;
        backend
            .abandon_orchestration("x", first.lease.token, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?;
        backend
            .fetch_orchestration(HOUR, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no work the second time")?;
        // A durable write that carries the attempt counts with it.
        backend
            .create_instance(new_instance("y"))
            .await
            .map_err(|e| e.to_string())?;
        println!("ready");
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    })
}

/// Starts a `hold` child on `store` and waits until it holds the store.
fn spawn_holder(store: &std::path::Path) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut child = Command::new(exe)
        .env(CHILD, "hold-lock")
        .env(STORE, store)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| error.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|error| error.to_string())?;
    if line.trim() != "ready" {
        let _ = child.kill();
        let status = child.wait().map_err(|error| error.to_string())?;
        return Err(format!("the holder did not get ready ({status}): {line:?}"));
    }
    Ok(child)
}

pub fn a_second_process_is_told_the_holders_pid() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = dir.path().join("engine.redb");
    let mut holder = spawn_holder(&store)?;
    let refused = RedbBackend::open(&store);
    let _ = holder.kill();
    let _ = holder.wait();
    match refused {
        Err(OpenError::InUse { pid, .. }) if pid == Some(holder.id()) => {
            let message = OpenError::InUse {
                path: store.clone(),
                pid,
            }
            .to_string();
            let expected = format!("in use by pid {}", holder.id());
            if message.contains(&expected) {
                Ok(())
            } else {
                Err(format!("{message:?} does not say {expected:?}"))
            }
        }
        Err(other) => Err(format!(
            "expected InUse naming pid {}, got {other}",
            holder.id()
        )),
        Ok(_) => Err("a second process opened a store in use".to_owned()),
    }
}

pub fn a_killed_holder_releases_the_store_and_its_leases() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = dir.path().join("engine.redb");
    let mut holder = spawn_holder(&store)?;
    holder.kill().map_err(|error| error.to_string())?;
    holder.wait().map_err(|error| error.to_string())?;
    runtime()?.block_on(async {
        let backend = RedbBackend::open(&store).map_err(|error| format!("reopen: {error}"))?;
        // The dead holder's hour-long lease on "x" is gone at once.
        let mut leased = Vec::new();
        while let Some(item) = backend
            .fetch_orchestration(HOUR, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?
        {
            leased.push((item.instance.instance_id, item.lease.attempt));
        }
        leased.sort();
        // "x" was handed out twice before the crash: this is its third attempt. "y" was
        // never leased, but a first attempt writes nothing, so the store cannot tell: it counts
        // as attempted once.
        let expected = vec![("x".to_owned(), 3), ("y".to_owned(), 2)];
        if leased == expected {
            Ok(())
        } else {
            Err(format!(
                "after the holder died: leased {leased:?}, expected {expected:?}"
            ))
        }
    })
}
