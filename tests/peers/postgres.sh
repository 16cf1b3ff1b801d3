#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the store's PostgreSQL tests (CI runs it from
# .ci/run; a developer runs the same):
#
#   url=$(bash tests/peers/postgres.sh start)   # install if missing, initdb, start; prints the URL
#   MXWATCH_TEST_POSTGRES_URL=$url cargo test --workspace
#   bash tests/peers/postgres.sh stop           # stop it and delete its directory
#   bash tests/peers/postgres.sh down; ... up   # an outage: stop the server, start it again (data kept)
#
# Environment: MXWATCH_PG_DIR (the cluster's directory, default /tmp/mxwatch-pg; an empty
# directory is fine), MXWATCH_PG_PORT (default 55432). The server listens on 127.0.0.1 only
# (and a Unix socket in the directory), trusts every local connection, and is the only thing
# here that touches the network. As root the cluster runs as the `postgres` user (PostgreSQL
# refuses to run as root) and a missing PostgreSQL is installed from Debian; as another user it
# runs as that user and PostgreSQL must be installed.
set -euo pipefail

DIR=${MXWATCH_PG_DIR:-/tmp/mxwatch-pg}
PORT=${MXWATCH_PG_PORT:-55432}
# Marks a directory this script made a cluster in: `stop` deletes nothing else.
MARK=.mxwatch-postgres

say() { echo "postgres: $*" >&2; }
die() {
    echo "postgres: ERROR: $*" >&2
    exit 1
}

bindir() {
    local dirs
    dirs=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dirs" ] && [ -x "$dirs/initdb" ] || return 1
    echo "$dirs"
}

install_postgres() {
    bindir >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed (apt-get install postgresql, as root)"
    say "installing postgresql"
    local created_policy=0 rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep Debian from starting its own cluster: this script runs its own.
        printf '#!/bin/sh\n# written by mxwatch tests/peers/postgres.sh for the install only\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2 || say "apt-get update reported errors; trying the install anyway"
        apt-get install -y -q --no-install-recommends postgresql >&2
    } || rc=$?
    if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$rc" -eq 0 ] || die "apt-get install postgresql failed ($rc)"
    bindir >/dev/null || die "no /usr/lib/postgresql/*/bin/initdb after the install"
}

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        local quoted
        printf -v quoted '%q ' "$@"
        su postgres -s /bin/sh -c "$quoted"
    else
        "$@"
    fi
}

url() { echo "postgres://postgres@127.0.0.1:$PORT/postgres"; }

start() {
    install_postgres
    local bin
    bin=$(bindir)
    mkdir -p "$DIR"
    if [ -f "$DIR/$MARK" ] && as_owner "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        say "already running in $DIR"
        url
        return
    fi
    if [ ! -f "$DIR/$MARK" ]; then
        [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty and not a cluster of this script's"
        touch "$DIR/$MARK"
        [ "$(id -u)" -ne 0 ] || chown postgres "$DIR"
        as_owner "$bin/initdb" -D "$DIR/data" -A trust -U postgres >"$DIR/initdb.log" 2>&1 ||
            die "initdb failed: $(cat "$DIR/initdb.log")"
    fi
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR" start >&2 ||
        die "the server did not start: $(tail -n 20 "$DIR/log")"
    say "running in $DIR on 127.0.0.1:$PORT"
    url
}

# Stops the server and starts it again on the same data (tests of a database outage: `down`,
# then `up`; the data and the port stay).
down() {
    [ -f "$DIR/$MARK" ] || die "no cluster of this script's in $DIR"
    as_owner "$(bindir)/pg_ctl" -D "$DIR/data" -m fast -w stop >&2
    say "stopped (data kept in $DIR)"
}

up() {
    [ -f "$DIR/$MARK" ] || die "no cluster of this script's in $DIR"
    start >/dev/null
}

stop() {
    [ -f "$DIR/$MARK" ] || {
        say "no cluster of this script's in $DIR"
        return 0
    }
    local bin
    bin=$(bindir) || die "PostgreSQL is not installed"
    as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || say "it was not running"
    rm -rf "$DIR"
    say "stopped; $DIR removed"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    down) down ;;
    up) up ;;
    url) url ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
