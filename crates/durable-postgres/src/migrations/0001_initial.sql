-- durable-postgres schema version 1: the whole engine state.
-- Every table lives in the connection's current schema (the first schema of search_path).
-- Ids, tokens and times are bigint; times are milliseconds since the Unix epoch by the
-- backend's clock. instance_id uses the "C" collation so that listings are ordered by bytes.

-- Message ids, activity ids and lease tokens: unique and increasing.
CREATE SEQUENCE durable_ids;

CREATE TABLE durable_instances (
    instance_id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    execution_id bigint NOT NULL,
    status text NOT NULL,
    input text NOT NULL,
    output text,
    failure text,
    custom_status text,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL,
    history_len bigint NOT NULL DEFAULT 0,
    parent_instance_id text COLLATE "C",
    parent_execution_id bigint,
    parent_task_id bigint,
    scheduled_start_ms bigint,
    -- The current lease (NULL: none); an instance is free once lease_expires_ms has passed.
    lease_token bigint,
    lease_expires_ms bigint NOT NULL DEFAULT 0,
    -- The messages handed out under the current lease: acknowledging deletes exactly these.
    leased_messages bigint[],
    -- Hand-outs since the last acknowledgement (poison detection).
    attempts integer NOT NULL DEFAULT 0,
    -- Set by abandon: not handed out before this time.
    not_before_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX durable_instances_parent ON durable_instances (parent_instance_id);

CREATE TABLE durable_history (
    instance_id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    event text NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

-- Inboxes. A message is not handed out before visible_at_ms (durable timers).
CREATE TABLE durable_messages (
    id bigint PRIMARY KEY DEFAULT nextval('durable_ids'),
    instance_id text COLLATE "C" NOT NULL,
    execution_id bigint,
    event text NOT NULL,
    visible_at_ms bigint NOT NULL
);
CREATE INDEX durable_messages_instance ON durable_messages (instance_id, id);

-- The activity queue. visible_at_ms is when the item can next be handed out: its
-- enqueue time, its lease expiry while leased, or the end of an abandon delay.
CREATE TABLE durable_activities (
    id bigint PRIMARY KEY DEFAULT nextval('durable_ids'),
    instance_id text COLLATE "C" NOT NULL,
    execution_id bigint NOT NULL,
    task_id bigint NOT NULL,
    name text NOT NULL,
    input text NOT NULL,
    visible_at_ms bigint NOT NULL,
    lease_token bigint,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX durable_activities_queue ON durable_activities (visible_at_ms, id);
