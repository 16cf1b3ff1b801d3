-- The shared work queue (`mxwatch scan --enqueue`, `mxwatch worker`) lives in PostgreSQL only
-- (migrations/postgres/0003_work_queue.sql): workers on several machines need a database
-- server, and the queue is PostgreSQL's row locks (`FOR UPDATE SKIP LOCKED`). An embedded
-- SQLite file has one process writing it, which `mxwatch scan --state` already serves. This
-- migration keeps the two dialects' numbering in step.
SELECT 1;
