-- mxwatch store, SQLite dialect. The PostgreSQL backend keeps migrations of the same names.

CREATE TABLE domains (
    name          TEXT PRIMARY KEY,
    next_due      INTEGER NOT NULL DEFAULT 0,
    last_observed INTEGER
);

CREATE TABLE observations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain      TEXT    NOT NULL,
    observed_at INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    -- This observation is the reference later ones are compared with.
    baseline    INTEGER NOT NULL DEFAULT 0,
    -- gzip of the report JSON (observation and findings).
    report      BLOB    NOT NULL
);
CREATE INDEX observations_by_domain ON observations (domain, id);

CREATE TABLE changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    old_value       TEXT,
    new_value       TEXT,
    first_seen      INTEGER NOT NULL,
    confirmed_at    INTEGER NOT NULL,
    observation_id  INTEGER,
    expected_reason TEXT,
    approved_by     TEXT,
    approved_at     INTEGER,
    resolved_at     INTEGER,
    resolved_by     INTEGER
);
CREATE INDEX changes_by_domain ON changes (domain, id);
CREATE INDEX changes_by_time ON changes (confirmed_at);

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id    INTEGER NOT NULL REFERENCES changes (id),
    sink         TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error   TEXT
);
CREATE INDEX alerts_due ON alerts (delivered_at, next_attempt);
