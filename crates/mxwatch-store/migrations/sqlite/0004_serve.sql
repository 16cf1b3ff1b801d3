-- mxwatch serve: access (users, sessions, API tokens, the audit log), the store-held inventory
-- (edits made in serve, merged with the configuration's [[domain]]s by the watcher) and one
-- summary row per domain (what the overview lists without decoding reports). The PostgreSQL
-- backend keeps a migration of the same name.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    -- argon2id, PHC string format.
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's secret: a leaked database does not hand out live sessions.
    id_hash    TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    -- SHA-256 of the token (tokens are 256 random bits: a slow hash adds nothing).
    token_hash TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT,
    source  TEXT    NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);

CREATE TABLE inventory_domains (
    name       TEXT    PRIMARY KEY,
    -- 0: removed (even if the configuration lists it); 1: added, or the configuration's entry edited.
    present    INTEGER NOT NULL,
    -- JSON arrays; NULL keeps the configuration's value.
    expect_mx  TEXT,
    preset     TEXT,
    tags       TEXT,
    updated_by TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE inventory_maintenance (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- JSON arrays of domain names and tags; both empty covers every domain.
    domains    TEXT    NOT NULL,
    tags       TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    reason     TEXT,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE inventory_summaries (
    domain         TEXT    PRIMARY KEY,
    observation_id INTEGER NOT NULL,
    observed_at    INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    -- The worst finding's severity (NULL: none), and its rank for sorting (0 none … 5 critical).
    worst          TEXT,
    worst_rank     INTEGER NOT NULL,
    findings       INTEGER NOT NULL,
    -- JSON object: open findings by severity ({"high": 2, "info": 1}).
    by_severity    TEXT    NOT NULL,
    -- '10 mx1.example.net, 20 mx2.example.net'; NULL when not determined.
    mx             TEXT,
    -- The registrable domain of the most preferred exchange.
    provider       TEXT,
    -- JSON: [{host, address, cert_sha256, cert_subject, cert_not_after}] for the shared-infrastructure view.
    endpoints      TEXT    NOT NULL
);
CREATE INDEX changes_open ON changes (domain, resolved_at, expected_reason, approved_by);

-- Approval's note, and acknowledgement ("seen, being handled": still unexpected, no longer new).
ALTER TABLE changes ADD COLUMN note TEXT;
ALTER TABLE changes ADD COLUMN acknowledged_by TEXT;
ALTER TABLE changes ADD COLUMN acknowledged_at INTEGER;
