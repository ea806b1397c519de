//! Opening a store: lock, create or check, and rebuild the in-memory queues.
//!
//! A new store is built under a temporary name and renamed into place once its schema is
//! committed, so a file at the store's path is always a complete store: an empty or
//! unreadable one there is damage, reported as such, never silently re-created.

use std::collections::HashMap;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use durable_core::backend::Message;
use durable_core::queue::WorkQueues;
use redb::{
    Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, StorageError,
    TableHandle,
};

use crate::error::OpenError;
use crate::lock::LockFile;
use crate::options::RedbOptions;
use crate::schema::{
    self, ACTIVITIES, ACTIVITY_LEASES, FINISHED, HISTORY, INBOX, INSTANCES, META, NEXT_ID_KEY,
    ORCHESTRATION_LEASES, SCHEMA_VERSION, SCHEMA_VERSION_KEY, StoredActivity, StoredMessage,
    UNFINISHED,
};
use crate::store::Parts;

pub(crate) fn open(path: &Path, options: &RedbOptions) -> Result<Parts, OpenError> {
    let lock = LockFile::acquire(path, options.lock_wait)?;
    let io = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.try_exists().map_err(io)? {
        create(path, options)?;
    }
    // redb reports damage as errors when it verifies the file; a panic from a check it does
    // not make is still turned into the same typed error rather than taking the process down.
    let opened = catch_unwind(AssertUnwindSafe(|| open_database(path, options)));
    let db = match opened {
        Ok(result) => result?,
        Err(panic) => {
            return Err(corrupt(
                path,
                format!("redb panicked: {}", panic_text(&panic)),
            ));
        }
    };
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        upgrade(path, &db)?;
        load(path, &db)
    }));
    let (queues, last_id) = match loaded {
        Ok(result) => result?,
        Err(panic) => {
            return Err(corrupt(
                path,
                format!("redb panicked: {}", panic_text(&panic)),
            ));
        }
    };
    Ok(Parts {
        db,
        lock,
        queues,
        last_id,
    })
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn corrupt(path: &Path, detail: String) -> OpenError {
    OpenError::Corrupt {
        path: path.to_owned(),
        detail,
    }
}

fn builder(options: &RedbOptions) -> Builder {
    let mut builder = Builder::new();
    builder.set_check_integrity_on_open(options.verify_on_open);
    if let Some(bytes) = options.cache_size {
        builder.set_cache_size(bytes);
    }
    builder
}

/// Builds a new, empty store beside `path` and renames it into place.
fn create(path: &Path, options: &RedbOptions) -> Result<(), OpenError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    let staging = PathBuf::from(name);
    let io = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(&staging) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(error)),
    }
    let db = builder(options)
        .create(&staging)
        .map_err(|error| database_error(&staging, error))?;
    let initialized = (|| -> Result<(), redb::Error> {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
            meta.insert(NEXT_ID_KEY, 0)?;
            txn.open_table(INSTANCES)?;
            txn.open_table(HISTORY)?;
            txn.open_table(INBOX)?;
            txn.open_table(ACTIVITIES)?;
            txn.open_table(ORCHESTRATION_LEASES)?;
            txn.open_table(ACTIVITY_LEASES)?;
            txn.open_table(UNFINISHED)?;
            txn.open_table(FINISHED)?;
        }
        txn.commit()?;
        Ok(())
    })();
    initialized.map_err(|error| OpenError::Database {
        path: staging.clone(),
        detail: error.to_string(),
    })?;
    db.close()
        .map_err(|error| database_error(&staging, error))?;
    std::fs::rename(&staging, path).map_err(io)?;
    // The rename is durable once the directory is.
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

pub(crate) fn open_database(path: &Path, options: &RedbOptions) -> Result<Database, OpenError> {
    builder(options)
        .open(path)
        .map_err(|error| database_error(path, error))
}

fn database_error(path: &Path, error: DatabaseError) -> OpenError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => OpenError::InUse {
            path: path.to_owned(),
            pid: None,
        },
        DatabaseError::RepairAborted => corrupt(path, "redb could not repair it".to_owned()),
        DatabaseError::Storage(StorageError::Corrupted(detail)) => corrupt(path, detail),
        DatabaseError::Storage(StorageError::Io(source))
            if matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            corrupt(path, source.to_string())
        }
        DatabaseError::Storage(StorageError::Io(source)) => OpenError::Io {
            path: path.to_owned(),
            source,
        },
        other => OpenError::Database {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// The schema version before the status indexes (`unfinished`, `finished`).
const UNINDEXED_VERSION: u64 = 1;

/// Brings a version 1 file to the current version: builds its status indexes, in one
/// transaction. Anything else is left for `load` to judge.
fn upgrade(path: &Path, db: &Database) -> Result<(), OpenError> {
    let fail = |detail: String| OpenError::Database {
        path: path.to_owned(),
        detail,
    };
    let text = |error: redb::Error| error.to_string();
    let version = {
        let txn = db.begin_read().map_err(|error| fail(text(error.into())))?;
        match txn.open_table(META) {
            Ok(meta) => meta
                .get(SCHEMA_VERSION_KEY)
                .map_err(|error| fail(text(error.into())))?
                .map(|guard| guard.value()),
            Err(_) => None,
        }
    };
    if version != Some(UNINDEXED_VERSION) {
        return Ok(());
    }
    let mut txn = db.begin_write().map_err(|error| fail(text(error.into())))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|error| fail(text(error.into())))?;
    crate::index::build(&txn).map_err(|detail| corrupt(path, detail))?;
    {
        let mut meta = txn
            .open_table(META)
            .map_err(|error| fail(text(error.into())))?;
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
            .map_err(|error| fail(text(error.into())))?;
    }
    txn.commit().map_err(|error| fail(text(error.into())))?;
    Ok(())
}

/// Checks the schema and rebuilds the queues from the inbox, activity and lease tables.
/// Returns them with the last id handed out.
fn load(path: &Path, db: &Database) -> Result<(WorkQueues, u64), OpenError> {
    let fail = |error: redb::Error| match error {
        redb::Error::Corrupted(detail) => corrupt(path, detail),
        other => OpenError::Database {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    };
    let txn = db.begin_read().map_err(|error| fail(error.into()))?;
    let tables: Vec<String> = txn
        .list_tables()
        .map_err(|error| fail(error.into()))?
        .map(|table| table.name().to_owned())
        .collect();
    if !tables.iter().any(|name| name == META.name()) {
        return Err(OpenError::NotAStore {
            path: path.to_owned(),
            detail: format!("no '{}' table (tables: {tables:?})", META.name()),
        });
    }
    let meta = txn.open_table(META).map_err(|error| fail(error.into()))?;
    let version = meta
        .get(SCHEMA_VERSION_KEY)
        .map_err(|error| fail(error.into()))?
        .map(|guard| guard.value());
    match version {
        Some(SCHEMA_VERSION) => {}
        Some(found) => {
            return Err(OpenError::UnsupportedSchema {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        None => {
            return Err(OpenError::NotAStore {
                path: path.to_owned(),
                detail: "no schema version".to_owned(),
            });
        }
    }
    let mut last_id = meta
        .get(NEXT_ID_KEY)
        .map_err(|error| fail(error.into()))?
        .map_or(0, |guard| guard.value());

    let mut queues = WorkQueues::default();
    let decode_error = |detail: String| corrupt(path, detail);

    let inbox = txn.open_table(INBOX).map_err(|error| fail(error.into()))?;
    for row in inbox.iter().map_err(|error| fail(error.into()))? {
        let (key, value) = row.map_err(|error| fail(error.into()))?;
        let (instance_id, id) = key.value();
        let stored: StoredMessage = schema::decode(
            value.value(),
            &format!("message {id} of instance '{instance_id}'"),
        )
        .map_err(decode_error)?;
        last_id = last_id.max(id);
        queues.add_message(
            stored.visible_at_ms,
            Message {
                id,
                instance_id: instance_id.to_owned(),
                execution_id: stored.execution_id,
                event: stored.event,
            },
        );
    }

    let leases = txn
        .open_table(ORCHESTRATION_LEASES)
        .map_err(|error| fail(error.into()))?;
    for row in leases.iter().map_err(|error| fail(error.into()))? {
        let (key, value) = row.map_err(|error| fail(error.into()))?;
        let (attempts, not_before_ms) = value.value();
        queues.restore_instance_attempts(key.value(), attempts, not_before_ms);
    }

    let activity_leases = txn
        .open_table(ACTIVITY_LEASES)
        .map_err(|error| fail(error.into()))?;
    let mut attempts: HashMap<u64, (u32, u64)> = HashMap::new();
    for row in activity_leases.iter().map_err(|error| fail(error.into()))? {
        let (key, value) = row.map_err(|error| fail(error.into()))?;
        attempts.insert(key.value(), value.value());
    }
    let activities = txn
        .open_table(ACTIVITIES)
        .map_err(|error| fail(error.into()))?;
    for row in activities.iter().map_err(|error| fail(error.into()))? {
        let (key, value) = row.map_err(|error| fail(error.into()))?;
        let id = key.value();
        let stored: StoredActivity =
            schema::decode(value.value(), &format!("activity {id}")).map_err(decode_error)?;
        // No attempt row: the first attempt, which writes nothing, may have been handed out.
        let (count, recorded, not_before_ms) = match attempts.get(&id) {
            Some(&(count, not_before_ms)) => (count, Some(count), not_before_ms),
            None => (1, None, 0),
        };
        last_id = last_id.max(id);
        let free_at_ms = stored.visible_at_ms.max(not_before_ms);
        queues.add_activity(id, stored.work(), free_at_ms, count, recorded);
    }
    queues.count_unrecorded_first_attempts();
    queues.forget_idle();
    Ok((queues, last_id))
}
