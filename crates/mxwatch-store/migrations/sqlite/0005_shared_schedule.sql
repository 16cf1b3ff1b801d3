-- The shared schedule, SQLite dialect: the same columns and indexes as
-- migrations/postgres/0005_shared_schedule.sql. Here only one process (`watch` or `serve`)
-- writes and nothing takes leases (workers need PostgreSQL); the columns keep the two
-- schemas and the Store trait the same.

-- A due domain is taken by one worker at a time: `leased_by` is the worker, `lease_until` the
-- end of its lease in milliseconds of the clock, extended
-- by the worker's heartbeat. An expired lease (a dead worker) is taken again; the cycle's
-- write is refused unless its worker still holds the lease, and it releases the lease.
ALTER TABLE domains ADD COLUMN leased_by TEXT;
ALTER TABLE domains ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
-- Taking due domains walks them by due time (domains_by_due, 0003); a heartbeat finds its
-- worker's own.
CREATE INDEX domains_by_holder ON domains (leased_by) WHERE leased_by IS NOT NULL;

-- The delivery key: `change:` or `resolved:` and the IDs of the changes an alert announces.
-- Unique per domain, so an alert of a change set already queued (two processes confirmed the
-- same change) is not queued again and its changes are announced once.
ALTER TABLE alert_events ADD COLUMN delivery_key TEXT;
CREATE UNIQUE INDEX alert_events_by_key ON alert_events (domain, delivery_key);

-- A delivery is sent by the one process that claimed it (`FOR UPDATE SKIP LOCKED`), until
-- `claim_until` (milliseconds, database clock); a claim that runs out (the process died before
-- it could say "delivered") is taken again: at least once, never by two at the same time.
ALTER TABLE alert_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE alert_deliveries ADD COLUMN claim_until INTEGER NOT NULL DEFAULT 0;
