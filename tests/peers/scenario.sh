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

# zone_edit "OLD-MX" "NEW-MX": one Knot transaction on $ZONE through the caller's KNOTC array
# (Knot raises the SOA serial by itself at the commit). In memory only: the zone's storage is
# the repository and zonefile-sync is -1, so nothing is written.
# shellcheck disable=SC2086  # $1 and $2 are split into preference and exchange on purpose
zone_edit() {
    "${KNOTC[@]}" zone-begin "$ZONE" || return 1
    if "${KNOTC[@]}" zone-unset "$ZONE" @ MX $1 && "${KNOTC[@]}" zone-set "$ZONE" @ 3600 MX $2 &&
        "${KNOTC[@]}" zone-commit "$ZONE"; then
        return 0
    fi
    "${KNOTC[@]}" zone-abort "$ZONE" >/dev/null 2>&1 || true
    return 1
}
