#!/usr/bin/env bash
# Real peers for `mxwatch serve`, run by tests/peers/run.sh (its counts join the summary) or by hand:
#
#   bash tests/peers/serve.sh WORK-DIR [COUNTS-FILE]
#
# `mxwatch serve --demo` (the in-process lab: DNS, SMTP and HTTPS on 127.0.0.0/8 only) is started on
# 127.0.0.1 and checked by:
#  1. Prometheus's `promtool check metrics` (Debian prometheus) on /metrics;
#  2. schemathesis (PyPI, in a venv) generating requests from /api/openapi.json with an admin token:
#     no 5xx, every answer as the document describes it;
#  3. Chromium (Debian chromium + chromium-driver) over WebDriver from tests/peers/serve-browser.py
#     (selenium, PyPI): log in, the overview, a broken domain's findings, a change made live
#     (an expected MX set in the inventory, then "check now") approved with a note, markup in
#     stranger-reachable text inert; screenshots saved in WORK-DIR/serve (printed).
#  4. when run by run.sh (RES_ADDR set, WORK-DIR/knot.conf there): `mxwatch serve --config` on the
#     Knot and Unbound peers watching healthy.test; once its baseline is recorded, the MX set is
#     changed in Knot with knotc (and Unbound's copy flushed); Chromium logs in as an operator,
#     presses "check now", finds the change in the feed and approves it; the edit is put back.
# Every check prints "ok serve: ..." or "FAIL serve: ..."; COUNTS-FILE gets "PASSED FAILED".
# Environment: MXWATCH (default target/debug/mxwatch), SERVE_PORT (default 18080; the live
# server takes the next port), SERVE_VENV (default WORK-DIR/serve-venv), RES_ADDR (Unbound).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${1:?usage: serve.sh WORK-DIR [COUNTS-FILE]}
COUNTS=${2:-}
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
PORT=${SERVE_PORT:-18080}
DIR="$WORK/serve"
VENV=${SERVE_VENV:-$WORK/serve-venv}
BASE="http://127.0.0.1:$PORT"
passed=0
failed=0
ok() { echo "ok serve: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL serve: $*"; failed=$((failed + 1)); }
counts() { [ -z "$COUNTS" ] || echo "$passed $failed" >"$COUNTS"; }

SCENARIO=serve
# shellcheck source=tests/peers/scenario.sh
source "$HERE/scenario.sh" # knot_mx_swap

# `serve --config` on Unbound (RES_ADDR) in front of Knot, healthy.test's MX changed in Knot once its
# baseline is recorded, then "check now" and the approval in Chromium; the edit is put back after.
live_phase() {
    local port=$((PORT + 1)) db="$DIR/live.db" user=peer password pid edited=0 token checked="" out
    local live_base="http://127.0.0.1:$port" old="20 mx2.healthy.test." new="30 mx1.provider.test."
    rm -f "$db"*
    cat >"$DIR/live.toml" <<EOF
db = "$db"

[defaults]
every = "1h"
jitter = 0.0
confirm_after = "1s"
resolver = "$RES_ADDR"
lab = true
probe = false
dnssec = false
compare_nameservers = false
dns_timeout = "2s"

[[domain]]
name = "healthy.test"
tags = ["peers"]
EOF
    password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    if ! MXWATCH_PASSWORD="$password" "$MXWATCH" user add "$user" --role operator --db "$db" >/dev/null 2>"$DIR/live-user.log"; then
        fail "live: user add: $(cat "$DIR/live-user.log")"
        return
    fi
    token=$("$MXWATCH" token create --role viewer --name peers --db "$db" 2>/dev/null)
    "$MXWATCH" serve --config "$DIR/live.toml" --listen "127.0.0.1:$port" 2>"$DIR/live.log" &
    pid=$!
    # healthy.test's baseline: the first watch round has checked it.
    for _ in $(seq 1 60); do
        checked=$(curl -sf -H "Authorization: Bearer $token" "$live_base/api/v1/domains" 2>/dev/null |
            python3 -c 'import json,sys; print(sum(d["status"] != "unchecked" for d in json.load(sys.stdin)["domains"]))' 2>/dev/null || true)
        [ "$checked" = 1 ] && break
        sleep 1
    done
    if [ "$checked" != 1 ]; then
        fail "live: serve --config did not check healthy.test within 60 s: $(tail -5 "$DIR/live.log")"
    elif ! out=$(knot_mx_swap "$WORK/knot.conf" healthy.test "$old" "$new" 2>&1); then
        fail "live: knotc could not edit healthy.test: $out"
    else
        edited=1
        unbound-control -c "$WORK/unbound.conf" flush_zone healthy.test >/dev/null 2>&1 ||
            fail "live: unbound-control flush_zone healthy.test"
        ok "live: healthy.test's MX changed in Knot (knotc) after serve recorded its baseline"
        if "$VENV/bin/python" "$HERE/serve-browser.py" live "$live_base" "$user" "$password" "$DIR" >"$DIR/browser-live.log" 2>&1; then
            while read -r line; do ok "chromium live: $line"; done < <(grep '^ok ' "$DIR/browser-live.log" | sed 's/^ok //')
        else
            while read -r line; do ok "chromium live: $line"; done < <(grep '^ok ' "$DIR/browser-live.log" | sed 's/^ok //')
            fail "chromium live: $(grep -v '^ok ' "$DIR/browser-live.log" | tail -20)"
        fi
    fi
    if [ "$edited" = 1 ]; then
        knot_mx_swap "$WORK/knot.conf" healthy.test "$new" "$old" >/dev/null 2>&1 || fail "live: knotc could not put healthy.test back"
        unbound-control -c "$WORK/unbound.conf" flush_zone healthy.test >/dev/null 2>&1 || true
    fi
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

mkdir -p "$DIR"
rm -f "$DIR"/serve.db*

# What this script needs, from Debian and PyPI (as root, like the other peers).
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || { fail "apt-get install ${missing[*]}"; counts; exit 0; }
fi
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q schemathesis selenium \
        || { fail "pip install schemathesis selenium"; counts; exit 0; }
fi

"$MXWATCH" serve --demo --listen "127.0.0.1:$PORT" --db "$DIR/serve.db" 2>"$DIR/serve.log" &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
    sleep 1
done
curl -sf "$BASE/readyz" >/dev/null || { fail "serve --demo not ready after 120 s: $(tail -5 "$DIR/serve.log")"; counts; exit 0; }
PASSWORD=$(sed -n 's/.*log in as demo \/ \([0-9a-f]*\).*/\1/p' "$DIR/serve.log" | head -1)
TOKEN=$("$MXWATCH" token create --role admin --name peers --db "$DIR/serve.db" 2>/dev/null)
# The watcher's first round over the lab (some lab hosts are slow on purpose).
for _ in $(seq 1 90); do
    unchecked=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/domains?per_page=500" \
        | python3 -c 'import json,sys; print(sum(d["status"] == "unchecked" for d in json.load(sys.stdin)["domains"]))')
    [ "$unchecked" = 0 ] && break
    sleep 2
done

# 1. promtool
curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/metrics" >"$DIR/metrics.txt"
if out=$(promtool check metrics <"$DIR/metrics.txt" 2>&1); then
    ok "promtool check metrics accepts /metrics ($(grep -c '^mxwatch_' "$DIR/metrics.txt") samples)"
else
    fail "promtool check metrics: $out"
fi
# /metrics without a token is refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics")
[ "$code" = 401 ] && ok "/metrics without a token: 401" || fail "/metrics without a token: $code"

# 2. Chromium (before the fuzzing, which edits the inventory at random) over WebDriver.
if "$VENV/bin/python" "$HERE/serve-browser.py" demo "$BASE" demo "$PASSWORD" "$DIR" >"$DIR/browser.log" 2>&1; then
    while read -r line; do ok "chromium: $line"; done < <(grep '^ok ' "$DIR/browser.log" | sed 's/^ok //')
    echo "serve: screenshots in $DIR (overview.png, domain.png)"
else
    while read -r line; do ok "chromium: $line"; done < <(grep '^ok ' "$DIR/browser.log" | sed 's/^ok //')
    fail "chromium: $(grep -v '^ok ' "$DIR/browser.log" | tail -20)"
    [ -f "$DIR/failure.html" ] && echo "serve: the page at the failure: $DIR/failure.html"
fi

# 3. schemathesis against the document the server serves.
# (run in DIR: schemathesis and hypothesis keep their state in the working directory)
if (cd "$DIR" && "$VENV/bin/st" run "$BASE/api/openapi.json" -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples 25 --request-timeout 30 >"$DIR/schemathesis.log" 2>&1); then
    ok "schemathesis: no 5xx, every answer as /api/openapi.json describes it ($(grep -Eo '[0-9]+ passed' "$DIR/schemathesis.log" | tail -1))"
else
    fail "schemathesis (see $DIR/schemathesis.log): $(tail -30 "$DIR/schemathesis.log")"
fi

# SIGTERM: both halves stop, exit 0.
kill -TERM "$SERVE_PID"
rc=0
for _ in $(seq 1 30); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$SERVE_PID" 2>/dev/null; then
    fail "serve still running 30 s after SIGTERM"
else
    wait "$SERVE_PID" || rc=$?
    [ "$rc" = 0 ] && ok "SIGTERM: serve exits 0" || fail "SIGTERM: serve exited $rc"
fi
trap - EXIT

# 4. A change made live on the real peers, approved in the browser.
if [ -n "${RES_ADDR:-}" ] && [ -f "$WORK/knot.conf" ]; then
    live_phase
else
    echo "serve: no Knot/Unbound peers given (RES_ADDR, WORK-DIR/knot.conf): the live change is not tried"
fi
counts
echo "serve peers: $passed passed, $failed failed"
