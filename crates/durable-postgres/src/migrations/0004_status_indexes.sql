-- durable-postgres schema version 3: instances indexed by status, so that listing unfinished
-- instances reads no finished row and retention finds the finished instances due for purging
-- oldest first, whatever the number of finished instances kept. The predicates are the
-- literal status lists the queries use (see ops::list_instances, purge::finished_before).
CREATE INDEX durable_instances_unfinished ON durable_instances (instance_id)
    WHERE status IN ('pending', 'running', 'suspended');
CREATE INDEX durable_instances_finished ON durable_instances (updated_at_ms, instance_id)
    WHERE status IN ('completed', 'failed', 'terminated');
