-- The SMTP politeness budget shared by the `mxwatch worker`s of one database (issue 13): at
-- most N connections open at once to one MX address and at most M begun in any sixty seconds,
-- counted across every worker, on top of each worker's own limits. One row per connection
-- begun: it counts towards "open" while its lease runs (the holder renews it while the
-- connection is open, and ends it when the connection closes; a killed worker's leases run out
-- by themselves) and towards "begun this minute" until it is a minute old, after which it is
-- deleted. Times are the database's clock (work_now_ms(), 0003), as for the work queue.
CREATE TABLE smtp_turns (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The MX address as text (`192.0.2.1`, `2001:db8::1`).
    address     TEXT   NOT NULL,
    -- Who holds it: the worker's ID (for a reader; leases, not holders, decide).
    holder      TEXT   NOT NULL,
    begun_at    BIGINT NOT NULL,
    -- The connection counts as open until then; set to the closing time when it closes.
    open_until  BIGINT NOT NULL
);
CREATE INDEX smtp_turns_by_address ON smtp_turns (address, begun_at);
-- The sweep of rows that no longer count (addresses not asked about again).
CREATE INDEX smtp_turns_by_age ON smtp_turns (begun_at);

-- Asks for a turn to connect to `p_address`, atomically across every worker: one statement,
-- one round trip. The rows of an address are counted under a transaction-scoped advisory lock
-- on the address (the two-key form, first key 0x6d78736d, "mxsm" in ASCII: a key space apart
-- from sqlx's single-key migration lock, and a first key apart from the watcher's lock), so two
-- workers asking at once cannot both take the last slot. A hash collision between two addresses only makes them wait for each other.
--
-- Returns the new turn's ID, or NULL with what is full: `window_free_in_ms` (the per-minute
-- limit: when the start that must leave the window does) and/or `lease_ends_in_ms` (the
-- concurrency limit: when the soonest lease runs out if nobody renews it; a connection
-- closing elsewhere frees a slot sooner, so callers also ask again now and then).
CREATE FUNCTION smtp_turn_begin(
    p_address TEXT, p_holder TEXT, p_concurrent INTEGER, p_per_minute INTEGER,
    p_lease_ms BIGINT, p_window_ms BIGINT,
    OUT turn BIGINT, OUT open_now BIGINT, OUT begun_in_window BIGINT,
    OUT window_free_in_ms BIGINT, OUT lease_ends_in_ms BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    now_ms BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(1836610413, hashtext(p_address));
    now_ms := work_now_ms();
    DELETE FROM smtp_turns
        WHERE address = p_address AND open_until <= now_ms AND begun_at <= now_ms - p_window_ms;
    SELECT COUNT(*) FILTER (WHERE t.open_until > now_ms),
           COUNT(*) FILTER (WHERE t.begun_at > now_ms - p_window_ms)
        INTO open_now, begun_in_window
        FROM smtp_turns t WHERE t.address = p_address;
    IF open_now < p_concurrent AND begun_in_window < p_per_minute THEN
        INSERT INTO smtp_turns (address, holder, begun_at, open_until)
            VALUES (p_address, p_holder, now_ms, now_ms + p_lease_ms)
            RETURNING id INTO turn;
        RETURN;
    END IF;
    IF begun_in_window >= p_per_minute THEN
        -- Workers with different limits count the same rows: the start that must leave the
        -- window for this caller to fit is the (count - limit + 1)th oldest.
        SELECT t.begun_at + p_window_ms - now_ms INTO window_free_in_ms
            FROM smtp_turns t
            WHERE t.address = p_address AND t.begun_at > now_ms - p_window_ms
            ORDER BY t.begun_at
            OFFSET begun_in_window - p_per_minute LIMIT 1;
    END IF;
    IF open_now >= p_concurrent THEN
        SELECT MIN(t.open_until) - now_ms INTO lease_ends_in_ms
            FROM smtp_turns t WHERE t.address = p_address AND t.open_until > now_ms;
    END IF;
END $$;
