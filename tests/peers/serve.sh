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
# Every check prints "ok serve: ..." or "FAIL serve: ..."; COUNTS-FILE gets "PASSED FAILED".
# Environment: MXWATCH (default target/debug/mxwatch), SERVE_PORT (default 18080),
# SERVE_VENV (default WORK-DIR/serve-venv).
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
if "$VENV/bin/python" "$HERE/serve-browser.py" "$BASE" demo "$PASSWORD" "$DIR" >"$DIR/browser.log" 2>&1; then
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
counts
echo "serve peers: $passed passed, $failed failed"
