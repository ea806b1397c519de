//! The status indexes of `instances`: `unfinished` (by id) and `finished` (by last change).
//!
//! Every write of an `instances` row goes through [`StatusIndex::update`] in the same
//! transaction, so the indexes never disagree with the rows they index.

use durable_core::{InstanceMetadata, InstanceStatus};
use redb::{ReadableTable, Table, TableError, WriteTransaction};

use crate::schema::{self, FINISHED, INSTANCES, UNFINISHED};

/// Where an instance is in the indexes: its status and last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexed {
    pub status: InstanceStatus,
    pub updated_at_ms: u64,
}

impl Indexed {
    pub fn of(metadata: &InstanceMetadata) -> Indexed {
        Indexed {
            status: metadata.status,
            updated_at_ms: metadata.updated_at_ms,
        }
    }
}

/// The two index tables of one write transaction.
pub(crate) struct StatusIndex<'txn> {
    unfinished: Table<'txn, &'static str, ()>,
    finished: Table<'txn, (u64, &'static str), ()>,
}

impl<'txn> StatusIndex<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self, TableError> {
        Ok(StatusIndex {
            unfinished: txn.open_table(UNFINISHED)?,
            finished: txn.open_table(FINISHED)?,
        })
    }

    /// Moves `instance_id` from where `before` put it (`None`: a new instance) to where
    /// `after` puts it (`None`: deleted).
    pub fn update(
        &mut self,
        instance_id: &str,
        before: Option<Indexed>,
        after: Option<Indexed>,
    ) -> Result<(), redb::StorageError> {
        if before == after {
            return Ok(());
        }
        if let Some(before) = before {
            if before.status.is_terminal() {
                self.finished.remove((before.updated_at_ms, instance_id))?;
            } else {
                self.unfinished.remove(instance_id)?;
            }
        }
        if let Some(after) = after {
            if after.status.is_terminal() {
                self.finished
                    .insert((after.updated_at_ms, instance_id), ())?;
            } else {
                self.unfinished.insert(instance_id, ())?;
            }
        }
        Ok(())
    }
}

/// Builds the indexes of a version 1 file from its `instances` rows and records version 2.
pub(crate) fn build(txn: &WriteTransaction) -> Result<(), String> {
    let text = |error: redb::Error| error.to_string();
    let instances = txn
        .open_table(INSTANCES)
        .map_err(|error| text(error.into()))?;
    let mut index = StatusIndex::open(txn).map_err(|error| text(error.into()))?;
    for row in instances.iter().map_err(|error| text(error.into()))? {
        let (key, value) = row.map_err(|error| text(error.into()))?;
        let instance_id = key.value();
        let metadata = schema::decode_metadata(value.value(), instance_id)?;
        index
            .update(instance_id, None, Some(Indexed::of(&metadata)))
            .map_err(|error| text(error.into()))?;
    }
    Ok(())
}
