-- durable-postgres schema version 3: idempotent send_message, lease tokens that never repeat,
-- fetches that do not walk future timers.

-- Deduplication keys of send_message: a call retried after an unknown outcome (the connection
-- was lost before the commit's answer) finds its key and does not enqueue the message again.
-- Kept for a day, far longer than a call keeps retrying; later sends prune older ones.
CREATE TABLE durable_sent_keys (
    key text COLLATE "C" PRIMARY KEY,
    sent_at_ms bigint NOT NULL
);
CREATE INDEX durable_sent_keys_age ON durable_sent_keys (sent_at_ms);

-- Lease tokens are taken from blocks of 1024 that each process reserves with a synchronously
-- committed nextval, so a token is never handed out before its block is durable: a server
-- crash cannot make the sequence hand out a token again (which durable_ids, advanced by
-- asynchronously committed fetches, could). The blocks start far above every id and token
-- issued so far.
CREATE SEQUENCE durable_lease_tokens INCREMENT BY 1024;
SELECT setval('durable_lease_tokens', (SELECT last_value FROM durable_ids) + 1073741824);

-- Fetches take the oldest visible message by (visible_at_ms, id), and an idle fetch asks for
-- the next visibility time: both read this index, not every pending timer.
CREATE INDEX durable_messages_visible ON durable_messages (visible_at_ms, id);
