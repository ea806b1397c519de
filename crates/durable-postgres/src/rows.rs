//! Conversions between rows and the engine's types.

use durable_core::{Event, Failure, InstanceMetadata, InstanceStatus, ParentInstance};
use tokio_postgres::Row;

use crate::error::Fault;

/// The columns `metadata` reads, in its order.
pub(crate) const METADATA_COLUMNS: &str = "instance_id, name, execution_id, status, input, \
    output, failure, custom_status, created_at_ms, updated_at_ms, history_len, \
    parent_instance_id, parent_execution_id, parent_task_id, scheduled_start_ms, incarnation";

/// How many columns `METADATA_COLUMNS` names.
pub(crate) const METADATA_COLUMN_COUNT: usize = 16;

/// A `u64` as stored (bigint); values beyond `i64::MAX` saturate (no real id or time gets
/// there).
pub(crate) fn db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored bigint as `u64` (negative values, which we never write, read as 0).
pub(crate) fn num(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A duration as stored: whole milliseconds (bigint), saturating.
pub(crate) fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A stored millisecond count as a duration (negative values, which we never write, read as 0).
pub(crate) fn from_ms(ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(num(ms))
}

pub(crate) fn status_text(status: InstanceStatus) -> Result<String, Fault> {
    match serde_json::to_value(status)? {
        serde_json::Value::String(text) => Ok(text),
        other => Err(Fault::Permanent(format!(
            "unexpected status encoding {other}"
        ))),
    }
}

fn status_of(text: &str) -> Result<InstanceStatus, Fault> {
    Ok(serde_json::from_value(serde_json::Value::String(
        text.to_owned(),
    ))?)
}

pub(crate) fn failure_text(failure: Option<&Failure>) -> Result<Option<String>, Fault> {
    Ok(failure.map(serde_json::to_string).transpose()?)
}

pub(crate) fn event_text(event: &Event) -> Result<String, Fault> {
    Ok(serde_json::to_string(event)?)
}

pub(crate) fn event_of(text: &str) -> Result<Event, Fault> {
    Ok(serde_json::from_str(text)?)
}

/// Reads `METADATA_COLUMNS` starting at column `at`.
pub(crate) fn metadata(row: &Row, at: usize) -> Result<InstanceMetadata, Fault> {
    let failure: Option<String> = row.try_get(at + 6)?;
    let parent_id: Option<String> = row.try_get(at + 11)?;
    let parent = match parent_id {
        Some(instance_id) => Some(ParentInstance {
            instance_id,
            execution_id: num(row.try_get::<_, Option<i64>>(at + 12)?.unwrap_or(0)),
            task_id: num(row.try_get::<_, Option<i64>>(at + 13)?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(InstanceMetadata {
        instance_id: row.try_get(at)?,
        name: row.try_get(at + 1)?,
        execution_id: num(row.try_get(at + 2)?),
        status: status_of(row.try_get(at + 3)?)?,
        input: row.try_get(at + 4)?,
        output: row.try_get(at + 5)?,
        failure: failure.as_deref().map(serde_json::from_str).transpose()?,
        custom_status: row.try_get(at + 7)?,
        created_at_ms: num(row.try_get(at + 8)?),
        updated_at_ms: num(row.try_get(at + 9)?),
        history_len: num(row.try_get(at + 10)?),
        parent,
        scheduled_start_ms: row.try_get::<_, Option<i64>>(at + 14)?.map(num),
        incarnation: num(row.try_get(at + 15)?),
    })
}

#[cfg(test)]
mod tests {
    use super::{METADATA_COLUMN_COUNT, METADATA_COLUMNS};

    #[test]
    fn the_column_count_follows_the_column_list() {
        assert_eq!(METADATA_COLUMNS.split(',').count(), METADATA_COLUMN_COUNT);
    }
}
