-- durable-postgres schema version 7: an episode's acknowledgement as one server-side
-- function, so that the common acknowledgement (no sub-orchestration to create) is one
-- statement, committed as its own transaction: one round trip where a transaction of
-- separate statements took four (begin, release, the rest pipelined, commit). The
-- statements are those the backend sent before, in the same order, in the same
-- transaction; only where they run changed.
--
-- Returns no row if the instance's lease is not p_token (the caller reports LeaseLost and,
-- inside a transaction, rolls back), else one row: how many of the messages were enqueued
-- (those to instances that exist) and whether the instance still has messages (arrived
-- during the lease), which waiting fetches must be woken for.
CREATE FUNCTION durable_ack_episode(
    p_instance text,
    p_token bigint,
    p_now bigint,
    -- history events to append
    p_events text[],
    -- the metadata update (p_has_metadata false: none; history_len and updated_at only)
    p_has_metadata boolean,
    p_execution_id bigint,
    p_status text,
    p_input text,
    p_output text,
    p_failure text,
    p_custom_status text,
    p_terminal boolean,
    -- activities to queue (the columns of INSERT_ACTIVITIES_SQL)
    a_instance text[],
    a_execution bigint[],
    a_task bigint[],
    a_name text[],
    a_input text[],
    a_timeout bigint[],
    a_heartbeat bigint[],
    -- messages to enqueue (the columns of ENQUEUE_SQL)
    m_instance text[],
    m_execution bigint[],
    m_event text[],
    m_visible bigint[]
) RETURNS TABLE (sent bigint, remaining boolean)
LANGUAGE plpgsql AS $$
DECLARE
    stored_execution bigint;
    len bigint;
    consumed bigint[];
    enqueued bigint := 0;
BEGIN
    -- FOR NO KEY UPDATE (the lock the UPDATE below takes anyway) re-checks the token on the
    -- row's latest version if another transaction changed it meanwhile.
    SELECT i.execution_id, i.history_len, i.leased_messages
        INTO stored_execution, len, consumed
        FROM durable_instances i
        WHERE i.instance_id = p_instance AND i.lease_token = p_token
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    DELETE FROM durable_messages WHERE id = ANY (consumed);
    UPDATE durable_instances SET lease_token = NULL, lease_expires_ms = 0, attempts = 0,
        leased_messages = NULL
        WHERE instance_id = p_instance;
    -- continue-as-new: the new execution's history replaces the old one.
    IF p_has_metadata AND p_execution_id <> stored_execution THEN
        DELETE FROM durable_history WHERE instance_id = p_instance;
        len := 0;
    END IF;
    IF cardinality(p_events) > 0 THEN
        INSERT INTO durable_history (instance_id, seq, event)
            SELECT p_instance, len + u.ord - 1, u.event
            FROM unnest(p_events) WITH ORDINALITY AS u(event, ord);
        len := len + cardinality(p_events);
    END IF;
    IF p_has_metadata THEN
        UPDATE durable_instances SET execution_id = p_execution_id, status = p_status,
            input = coalesce(p_input, input), output = p_output, failure = p_failure,
            custom_status = p_custom_status, history_len = len, updated_at_ms = p_now
            WHERE instance_id = p_instance;
        IF p_terminal THEN
            -- Nobody will take the results of the work it still has out: cancel it (a
            -- worker running some of it loses its lease; its renewal and completion are
            -- refused).
            DELETE FROM durable_activities WHERE instance_id = p_instance;
        END IF;
    ELSIF cardinality(p_events) > 0 THEN
        UPDATE durable_instances SET history_len = len, updated_at_ms = p_now
            WHERE instance_id = p_instance;
    END IF;
    IF cardinality(a_instance) > 0 THEN
        INSERT INTO durable_activities (instance_id, execution_id, task_id, name, input,
                visible_at_ms, timeout_ms, heartbeat_timeout_ms)
            SELECT u.instance_id, u.execution_id, u.task_id, u.name, u.input, p_now,
                u.timeout_ms, u.heartbeat_timeout_ms
            FROM unnest(a_instance, a_execution, a_task, a_name, a_input, a_timeout,
                    a_heartbeat)
                WITH ORDINALITY AS u(instance_id, execution_id, task_id, name, input,
                    timeout_ms, heartbeat_timeout_ms, ord)
            ORDER BY u.ord;
    END IF;
    IF cardinality(m_instance) > 0 THEN
        -- FOR KEY SHARE: a purge cannot delete a receiver between the check and the insert.
        INSERT INTO durable_messages (instance_id, execution_id, event, visible_at_ms)
            SELECT u.instance_id, u.execution_id, u.event, u.visible_at_ms
            FROM unnest(m_instance, m_execution, m_event, m_visible)
                WITH ORDINALITY AS u(instance_id, execution_id, event, visible_at_ms, ord)
            WHERE EXISTS (SELECT 1 FROM durable_instances i
                          WHERE i.instance_id = u.instance_id FOR KEY SHARE)
            ORDER BY u.ord;
        GET DIAGNOSTICS enqueued = ROW_COUNT;
    END IF;
    RETURN QUERY SELECT enqueued,
        EXISTS (SELECT 1 FROM durable_messages m WHERE m.instance_id = p_instance);
END
$$;
