-- The shared work queue (`mxwatch scan --enqueue`, `mxwatch worker`) lives in PostgreSQL only
-- (migrations/postgres/0003_work_queue.sql): workers on several machines need a database
-- server, and the queue is PostgreSQL's row locks (`FOR UPDATE SKIP LOCKED`). An embedded
-- SQLite file has one process writing it, which `mxwatch scan --state` already serves.
--
-- The monitor's hot path at scale, the same indexes as PostgreSQL's 0003: the due domains and
-- the earliest due time from an index instead of a scan of every domain; a domain's latest
-- baseline (and prune's "latest baseline of each domain") from the baselines alone; prune's age
-- cut by time.
CREATE INDEX domains_by_due ON domains (next_due, name);
CREATE INDEX observations_baselines ON observations (domain, id) WHERE baseline;
CREATE INDEX observations_by_time ON observations (observed_at);
