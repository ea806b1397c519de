//! The file's tables and the encoding of their rows.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | name | `schema_version`, `next_id` (the id and token counter) |
//! | `instances` | instance id | metadata (JSON) |
//! | `history` | (instance id, sequence number from 0) | event (JSON) |
//! | `inbox` | (instance id, message id) | visibility time, execution, event (JSON) |
//! | `activities` | work item id | the work and when it is visible (JSON) |
//! | `orchestration_leases` | instance id | (attempt count, not handed out before) |
//! | `activity_leases` | work item id | (attempt count, not handed out before) |
//! | `unfinished` | instance id of every pending, running or suspended instance | () |
//! | `finished` | (last change, instance id) of every finished instance | () |
//!
//! `unfinished` and `finished` index `instances` by status: listing unfinished instances
//! reads only them, and retention finds the finished instances due for purging oldest first,
//! whatever the number of finished instances kept. They are written in the same transaction
//! as the `instances` row they index (schema version 2; a version 1 file gets them built when
//! it is opened).
//!
//! The lease tables keep what must outlive a process: attempt counts (for poison detection)
//! and abandon delays. A live lease's token and expiry are kept in memory only: the file is
//! locked by one process, so no lease can outlive it, and reopening reclaims them all.
//!
//! Rows that are JSON are versioned by [`SCHEMA_VERSION`] as a whole: a change of any row's
//! shape is a new schema version, except a member added with a default and left out when it
//! has it (an activity's call options): rows without it read as before, and an older build
//! ignores it.

use durable_core::ActivityOptions;
use durable_core::backend::ActivityWork;
use durable_core::{Event, InstanceMetadata};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

/// The version of the file layout this build reads and writes.
pub const SCHEMA_VERSION: u64 = 2;

/// `meta` keys.
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
pub(crate) const NEXT_ID_KEY: &str = "next_id";

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
pub(crate) const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");
pub(crate) const INBOX: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("inbox");
pub(crate) const ACTIVITIES: TableDefinition<u64, &[u8]> = TableDefinition::new("activities");
pub(crate) const ORCHESTRATION_LEASES: TableDefinition<&str, (u32, u64)> =
    TableDefinition::new("orchestration_leases");
pub(crate) const ACTIVITY_LEASES: TableDefinition<u64, (u32, u64)> =
    TableDefinition::new("activity_leases");
pub(crate) const UNFINISHED: TableDefinition<&str, ()> = TableDefinition::new("unfinished");
pub(crate) const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished");

/// An inbox row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredMessage {
    pub visible_at_ms: u64,
    pub execution_id: Option<u64>,
    pub event: Event,
}

/// An activity row: `ActivityWork` and its visibility time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredActivity {
    pub instance_id: String,
    pub execution_id: u64,
    pub task_id: u64,
    pub name: String,
    pub input: String,
    pub visible_at_ms: u64,
    /// Left out when unset, so rows without it (written before it existed) read the same
    /// and a row with unset options reads in an older build.
    #[serde(default, skip_serializing_if = "ActivityOptions::is_unset")]
    pub options: ActivityOptions,
}

impl StoredActivity {
    pub fn new(work: &ActivityWork, visible_at_ms: u64) -> Self {
        StoredActivity {
            instance_id: work.instance_id.clone(),
            execution_id: work.execution_id,
            task_id: work.task_id,
            name: work.name.clone(),
            input: work.input.clone(),
            visible_at_ms,
            options: work.options,
        }
    }

    pub fn work(self) -> ActivityWork {
        ActivityWork {
            instance_id: self.instance_id,
            execution_id: self.execution_id,
            task_id: self.task_id,
            name: self.name,
            input: self.input,
            options: self.options,
        }
    }
}

/// Encodes a row value. Serializing these types cannot fail (no maps with non-string keys,
/// no fallible `Serialize` impls), but an error is reported rather than assumed away.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|error| format!("cannot encode a row: {error}"))
}

/// Decodes a row value; `what` names the row in the error.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|error| format!("cannot decode {what}: {error}"))
}

/// Decodes an `instances` row.
pub(crate) fn decode_metadata(bytes: &[u8], instance_id: &str) -> Result<InstanceMetadata, String> {
    decode(bytes, &format!("the metadata of instance '{instance_id}'"))
}
