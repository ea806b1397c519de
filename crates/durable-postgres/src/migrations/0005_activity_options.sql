-- durable-postgres schema version 5: the time limits an orchestration gave at the call
-- (ActivityWork::options; NULL: the registered limit or the worker's default), and activity
-- work indexed by instance, which the acknowledgement that finishes an instance deletes (its
-- running activities are cancelled) without reading the whole queue.
ALTER TABLE durable_activities ADD COLUMN timeout_ms bigint;
ALTER TABLE durable_activities ADD COLUMN heartbeat_timeout_ms bigint;
CREATE INDEX durable_activities_instance ON durable_activities (instance_id);
