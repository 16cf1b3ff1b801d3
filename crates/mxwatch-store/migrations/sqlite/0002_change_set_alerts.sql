-- One alert per domain per confirmed cycle and event (a change set), delivered to each sink,
-- instead of one alert per change. The PostgreSQL backend keeps a migration of the same name.

CREATE TABLE alert_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    domain     TEXT    NOT NULL,
    -- 'change' or 'resolved'
    event      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    -- The MX set before and after ('10 mx1.example.net, 20 mx2.example.net'), when it changed.
    mx_before  TEXT,
    mx_after   TEXT
);

CREATE TABLE alert_event_changes (
    alert_id  INTEGER NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    change_id INTEGER NOT NULL REFERENCES changes (id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (alert_id, change_id)
);
CREATE INDEX alert_event_changes_by_change ON alert_event_changes (change_id);

CREATE TABLE alert_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id     INTEGER NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    sink         TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    delivered_at INTEGER,
    -- Set when a permanent failure (the sink refused the alert for good) ended the retries.
    gave_up_at   INTEGER,
    last_error   TEXT,
    UNIQUE (alert_id, sink)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (delivered_at, gave_up_at, next_attempt);

-- Alerts the previous version queued and never delivered are kept: each becomes an alert of
-- its own change (the old alert's ID is free to reuse as the new alert's).
INSERT INTO alert_events (id, domain, event, created_at)
    SELECT a.id, c.domain, a.event, c.confirmed_at
    FROM alerts a JOIN changes c ON c.id = a.change_id
    WHERE a.delivered_at IS NULL;
INSERT INTO alert_event_changes (alert_id, change_id, position)
    SELECT id, change_id, 0 FROM alerts WHERE delivered_at IS NULL;
INSERT INTO alert_deliveries (alert_id, sink, attempts, next_attempt, last_error)
    SELECT id, sink, attempts, next_attempt, last_error FROM alerts WHERE delivered_at IS NULL;

DROP TABLE alerts;
