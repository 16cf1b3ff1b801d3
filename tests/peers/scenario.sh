# Helpers shared by the peers' scenario scripts (watch.sh, workers.sh, watchshare.sh), sourced after they set
# SCENARIO (the word their lines start with: "ok SCENARIO: …", "FAIL SCENARIO: …") and COUNTS
# (the file that gets "PASSED FAILED" at the end, or empty).
# shellcheck shell=bash

say() { echo "peers: $SCENARIO: $*" >&2; }

passed=0
failed=0
finished=0
check() { # ok|fail description [details shown on failure]
    if [ "$1" = ok ]; then
        passed=$((passed + 1))
        echo "ok $SCENARIO: $2"
    else
        failed=$((failed + 1))
        echo "FAIL $SCENARIO: $2"
        if [ -n "${3:-}" ]; then show <<<"$3"; fi
    fi
}
# Indented, and so that no line of it reads as a test summary to .ci/run.
show() { sed -e 's/^/    | /' -e 's/\([0-9]\) \(failed\|passed\)/\1 (\2)/g' | head -n 40 || true; }

write_counts() {
    if [ -n "$COUNTS" ]; then echo "$passed $failed" >"$COUNTS"; fi
}

# exited PID: the child has exited (gone, or a zombie not yet reaped).
exited() {
    local state
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || true
    [ -z "$state" ] || [ "$state" = Z ]
}

# poll SECONDS COMMAND...: run COMMAND every 0.3 s until it succeeds (0) or
# SECONDS have passed (1).
poll() {
    local limit=$1 t0=$SECONDS
    shift
    while :; do
        if "$@"; then return 0; fi
        [ $((SECONDS - t0)) -lt "$limit" ] || return 1
        sleep 0.3
    done
}

# knot_mx_swap KNOT-CONF ZONE OLD NEW: in one knotc transaction (in memory only: the zone file is
# never written), the apex MX record OLD ("20 mx2.healthy.test.") replaced by NEW (TTL 3600).
knot_mx_swap() {
    local knotc=(knotc -c "$1" -t 10) zone=$2
    "${knotc[@]}" zone-begin "$zone" || return 1
    # shellcheck disable=SC2086  # OLD and NEW are "PREFERENCE EXCHANGE", two words each
    if "${knotc[@]}" zone-unset "$zone" @ MX $3 && "${knotc[@]}" zone-set "$zone" @ 3600 MX $4 &&
        "${knotc[@]}" zone-commit "$zone"; then
        return 0
    fi
    "${knotc[@]}" zone-abort "$zone" >/dev/null 2>&1 || true
    return 1
}

# watch_config FILE DB CONFIRM-AFTER HOOK-PORT: the watch configuration the watch scenarios share
# (watch.sh, watchshare.sh): $ZONE and $OTHER every 2 s through Unbound at $RES_ADDR, DNS only
# (Knot serves the zones unsigned there), every change to the webhook receiver on
# 127.0.0.1:HOOK-PORT signed with $SECRET.
watch_config() {
    cat >"$1" <<EOF
# Written by tests/peers/$SCENARIO.sh
db = "$2"

[defaults]
every = "2s"
jitter = 0.0
confirm_after = "$3"
resolver = "$RES_ADDR"
lab = true
probe = false
dnssec = false          # Knot serves the zones unsigned in this scenario
dns_timeout = "500ms"
retry_after = "1s"

[[domain]]
name = "$ZONE"

[[domain]]
name = "$OTHER"

[[alert]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:$4/hook"
secret = "$SECRET"
min_severity = "info"
EOF
}
