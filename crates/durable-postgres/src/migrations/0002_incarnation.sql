-- durable-postgres schema version 2: every instance created gets an incarnation from
-- durable_ids, so instances created under the same id one after another (purge and create
-- again, or IdReusePolicy::ReplaceFinished, which sets a new one) are told apart. Existing
-- rows get distinct values too.
ALTER TABLE durable_instances ADD COLUMN incarnation bigint NOT NULL DEFAULT nextval('durable_ids');
