-- durable-postgres schema version 6: which worker process holds which lease, for consoles.
-- A process registers with the first block of lease tokens it reserves, and every block it
-- reserves is recorded with it, in the block's synchronously committed transaction: a
-- lease's holder is the worker whose block holds the lease's token, so fetches and
-- acknowledgements write nothing more than before. last_seen_ms is refreshed by fetches and
-- lease renewals, at most every few seconds (see workers.rs).
CREATE TABLE durable_workers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    host text NOT NULL,
    pid bigint NOT NULL,
    started_at_ms bigint NOT NULL,
    last_seen_ms bigint NOT NULL
);
CREATE INDEX durable_workers_seen ON durable_workers (last_seen_ms);

CREATE TABLE durable_token_blocks (
    first_token bigint PRIMARY KEY,
    worker_id bigint NOT NULL REFERENCES durable_workers (id) ON DELETE CASCADE
);
CREATE INDEX durable_token_blocks_worker ON durable_token_blocks (worker_id);
