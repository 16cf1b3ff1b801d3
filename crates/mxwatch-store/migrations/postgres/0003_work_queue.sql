-- The shared work queue (`mxwatch scan --enqueue`, `mxwatch worker`): PostgreSQL only, because
-- its row locks are the queue (`FOR UPDATE SKIP LOCKED`) and several machines reach it.
-- Times are milliseconds of the database's clock, so workers on machines whose clocks
-- disagree still agree on when a lease ends.

-- The database's clock in milliseconds (clock_timestamp: the time now, not the transaction's start).
CREATE FUNCTION work_now_ms() RETURNS BIGINT
    LANGUAGE SQL VOLATILE
    AS $$ SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT $$;

-- A bulk scan queued by `mxwatch scan FILE --enqueue [NAME]`.
CREATE TABLE work_jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    -- Set when the whole list is queued: until then a reader cannot tell "done" from "not yet
    -- queued", and `scan --job` keeps waiting.
    sealed_at   BIGINT,
    -- Lines of the list (domains, malformed and duplicate lines) and results written so far.
    -- `results` is also the next result's sequence number: it is only ever raised under this
    -- row's lock, in the transaction that writes the results, so results commit in sequence
    -- order and a reader following `seq` never skips one.
    lines       BIGINT NOT NULL DEFAULT 0,
    results     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX work_jobs_by_name ON work_jobs (name);

-- The domains of a job not yet audited. A row leaves this table in the transaction that
-- writes its result; a worker holds one by its lease (leased_by, lease_until), which its
-- heartbeat extends. An expired lease (a dead worker) is taken again by another worker.
CREATE TABLE work_items (
    job_id      BIGINT NOT NULL REFERENCES work_jobs (id) ON DELETE CASCADE,
    line        BIGINT NOT NULL,
    domain      TEXT   NOT NULL,
    -- What was done to the input to get the domain ("took the domain from the URL …").
    notes       TEXT[] NOT NULL DEFAULT '{}',
    leased_by   TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- Leases taken: an item whose leases keep expiring (it kills its worker) is given up.
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, line)
);
-- Taking work walks open items by lease end; a worker's heartbeat finds its own.
CREATE INDEX work_items_by_lease ON work_items (lease_until, job_id, line);
CREATE INDEX work_items_by_worker ON work_items (leased_by) WHERE leased_by IS NOT NULL;

-- One result per line of a job, written exactly once: (job_id, line) is the key, and `seq`
-- (dense, from work_jobs.results) is the order `scan --job` streams them in.
CREATE TABLE work_results (
    job_id      BIGINT NOT NULL REFERENCES work_jobs (id) ON DELETE CASCADE,
    line        BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    domain      TEXT,
    -- 'audited', 'malformed', 'duplicate' or 'gave_up'
    kind        TEXT   NOT NULL,
    worker      TEXT,
    finished_at BIGINT NOT NULL,
    -- gzip of the result's JSON (the report, or what was wrong with the line).
    payload     BYTEA  NOT NULL,
    PRIMARY KEY (job_id, line)
);
CREATE UNIQUE INDEX work_results_by_seq ON work_results (job_id, seq);

-- Every worker that has run against this database, for `mxwatch workers`.
CREATE TABLE workers (
    id          TEXT   PRIMARY KEY,
    host        TEXT   NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    -- Results written by this worker (each counted once, by the worker that wrote it first).
    items_done  BIGINT NOT NULL DEFAULT 0,
    stopped_at  BIGINT
);
CREATE INDEX workers_by_last_seen ON workers (last_seen);

-- The monitor's hot path at scale (the same indexes as migrations/sqlite/0003_work_queue.sql):
-- the due domains and the earliest due time from an index instead of a scan of every domain;
-- a domain's latest baseline (and prune's "latest baseline of each domain") from the baselines
-- alone; prune's age cut by time.
CREATE INDEX domains_by_due ON domains (next_due, name);
CREATE INDEX observations_baselines ON observations (domain, id) WHERE baseline;
CREATE INDEX observations_by_time ON observations (observed_at);
