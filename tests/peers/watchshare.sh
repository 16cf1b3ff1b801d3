#!/usr/bin/env bash
# Real-peers scenario for `mxwatch worker --config` (issue 13: workers sharing the watch
# inventory), run by tests/peers/run.sh after the workers scenario, while Knot (127.53.0.1) and
# Unbound (127.53.0.2) are up. Also runs by hand against peers left up by `run.sh --keep`:
#
#   bash tests/peers/watchshare.sh WORK-DIR [COUNTS-FILE]
#
# WORK-DIR is run.sh's work directory (knot.conf and unbound.conf are read from it; this script
# works in WORK-DIR/watchshare). COUNTS-FILE gets "PASSED FAILED" at the end; every check
# prints one "ok watchshare: ..." or "FAIL watchshare: ..." line. Environment: MXWATCH (default
# target/debug/mxwatch), RES_ADDR, PEERS_WATCHSHARE_PG_PORT (its own PostgreSQL, default 55442).
#
# The scenario, all on loopback:
#  1. a PostgreSQL cluster of its own (tests/peers/postgres.sh, WORK-DIR/watchshare/pg) and a
#     webhook receiver (tests/peers/hook-receiver.py);
#  2. workers A and B with one configuration (healthy.test and customer1.test, every 2 s, a
#     change confirmed 3 s after it is seen, the webhook sink) on one database, until both
#     domains have a baseline; `mxwatch watch` on the same database is refused meanwhile;
#  3. healthy.test edited live in Knot (a knotc transaction, in memory only) and flushed from
#     Unbound; whichever worker sees the change is SIGKILLed while it waits to confirm it,
#     holding the domain's lease; the other takes the domain once the lease runs out;
#  4. the edit reverted: the change resolved;
#  5. each change reached the receiver once per event (the mx-added and the mx-removed change
#     in one "change" alert, each resolved once; the revert's own changes, a new SOA serial,
#     once), nothing for customer1.test; `mxwatch changes` has each change once; the survivor
#     stops cleanly on SIGTERM.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${1:?usage: watchshare.sh WORK-DIR [COUNTS-FILE]}
COUNTS=${2:-}
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
RES_ADDR=${RES_ADDR:-127.53.0.2}
PG_PORT=${PEERS_WATCHSHARE_PG_PORT:-55442}
ZONE=healthy.test
OTHER=customer1.test
SECRET=s3cret

SCENARIO=watchshare
# shellcheck source=tests/peers/scenario.sh
source "$HERE/scenario.sh"

if ! "$MXWATCH" worker --help 2>/dev/null | grep -q -- --config; then
    echo "peers: mxwatch worker has no --config yet; skipping the watchshare scenario" >&2
    write_counts
    exit 0
fi

KNOTC=(knotc -c "$WORK/knot.conf" -t 10)
UCTL=(unbound-control -c "$WORK/unbound.conf")
D="$WORK/watchshare"
CONF="$D/mxwatch.toml"
HOOKLOG="$D/hook.jsonl"
rm -rf "$D"
mkdir -p "$D"
PG=(env MXWATCH_PG_DIR="$D/pg" MXWATCH_PG_PORT="$PG_PORT" bash "$HERE/postgres.sh")
pids=()
hook_pid=""
zone_edited=0
pg_started=0

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$hook_pid" ]; then
        kill -TERM "$hook_pid" 2>/dev/null || true
        wait "$hook_pid" 2>/dev/null || true
    fi
    if [ "$zone_edited" -eq 1 ]; then
        say "putting $ZONE back as it was"
        "${KNOTC[@]}" zone-abort "$ZONE" >/dev/null 2>&1 || true
        zone_edit "30 mx1.provider.test." "20 mx2.healthy.test." >/dev/null 2>&1 || true
        "${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
    fi
    if [ "$pg_started" -eq 1 ]; then "${PG[@]}" stop >/dev/null 2>&1 || true; fi
    if [ "$finished" -eq 0 ]; then
        check fail "the scenario stopped early (exit $rc); the workers' logs, last lines:" \
            "$(tail -n 15 "$D/a.log" 2>/dev/null; tail -n 15 "$D/b.log" 2>/dev/null)"
    fi
    write_counts
    [ "$failed" -eq 0 ]
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# zone_edit "OLD-MX" "NEW-MX": the apex MX swapped in one knotc transaction (scenario.sh).
zone_edit() { knot_mx_swap "$WORK/knot.conf" "$ZONE" "$1" "$2"; }

# The receiver's log, read by one Python helper:
#   alerts.py count EVENT   2xx requests of that event
#   alerts.py check         the checks of step 5 (ok/FAIL lines)
cat >"$D/alerts.py" <<'PY'
import json
import sys

ZONE, OTHER = "healthy.test", "customer1.test"
log_path, cmd = sys.argv[1], sys.argv[2]
rs = []
try:
    with open(log_path, encoding="utf-8") as f:
        rs = [json.loads(line) for line in f if line.strip()]
except OSError:
    pass
ok = [r for r in rs if 200 <= r["status"] < 300 and isinstance(r.get("json"), dict)]


def of(event):
    return [r["json"] for r in ok if r["json"].get("event") == event]


def result(good, text, details=()):
    print(("ok watchshare: " if good else "FAIL watchshare: ") + text)
    if not good:
        for d in list(details)[:20]:
            print("    | " + json.dumps(d)[:300])


if cmd == "count":
    print(len(of(sys.argv[3])))
elif cmd == "check":
    # The revert is itself a change (Knot raised the SOA serial again; the drain time of the
    # exchange that went): its own "change" alert. What must hold is per change: each change
    # (by its ID) announced in one delivered alert of each event, whoever confirmed it.
    changes, resolved = of("change"), of("resolved")
    for event, alerts in (("change", changes), ("resolved", resolved)):
        ids = [c.get("id") for a in alerts for c in a.get("changes", [])]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        result(ids and not dups,
               f"each of the {len(set(ids))} change(s) in \"{event}\" alerts delivered once"
               + (f" (repeated: {dups})" if dups else ""), alerts)
    kinds = [(c.get("kind"), c.get("subject")) for a in changes for c in a.get("changes", [])]
    want = [("mx-added", "mx1.provider.test"), ("mx-removed", "mx2.healthy.test")]
    result(all(kinds.count(w) == 1 for w in want),
           "mx-added mx1.provider.test and mx-removed mx2.healthy.test alerted once each",
           changes)
    back = [(c.get("kind"), c.get("subject")) for a in resolved for c in a.get("changes", [])]
    result(all(back.count(w) == 1 for w in want),
           "both MX changes resolved, said once each", resolved)
    other = [r["json"] for r in ok if r["json"].get("domain") != ZONE]
    result(not other, f"nothing alerted for {OTHER}", other)
    bad = [r for r in rs if not r.get("sig_ok")]
    result(not bad, f"all {len(rs)} requests carry a valid signature", bad)
else:
    sys.exit(f"alerts.py: unknown command {cmd}")
PY
alerts() { python3 "$D/alerts.py" "$HOOKLOG" "$@"; }
count_at_least() { [ "$(alerts count "$1")" -ge "$2" ]; }

# 1. PostgreSQL and the receiver.
if URL=$("${PG[@]}" start 2>"$D/pg.log"); then
    pg_started=1
    check ok "PostgreSQL of its own on 127.0.0.1:$PG_PORT"
else
    check fail "PostgreSQL did not start" "$(cat "$D/pg.log")"
    exit 1
fi
python3 "$HERE/hook-receiver.py" --secret "$SECRET" --log "$HOOKLOG" --port-file "$D/hook.port" \
    --fail-first 0 --max-seconds 300 2>"$D/hook.stderr" &
hook_pid=$!
if poll 10 test -s "$D/hook.port"; then
    port=$(cat "$D/hook.port")
    check ok "webhook receiver listening on 127.0.0.1:$port"
else
    check fail "the webhook receiver did not start" "$(cat "$D/hook.stderr")"
    exit 1
fi

# 2. Two workers on one inventory.
watch_config "$CONF" "$URL" 3s "$port"

worker() { # NAME: a worker on the inventory, logging to NAME.log; its PID in $last_pid
    MXWATCH_LOG=info "$MXWATCH" worker --db "$URL" --config "$CONF" --resolver "$RES_ADDR" --lab \
        --lease 3s >"$D/$1.log" 2>&1 </dev/null &
    last_pid=$!
    pids+=("$last_pid")
}
worker a
a=$last_pid
worker b
b=$last_pid

has_baseline() {
    "$MXWATCH" history "$1" --db "$URL" --format json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if any(o.get("baseline") for o in json.load(sys.stdin).get("observations", [])) else 1)'
}
both_baselines() { has_baseline "$ZONE" && has_baseline "$OTHER"; }
if poll 60 both_baselines; then
    check ok "workers A and B recorded a baseline of $ZONE and $OTHER"
else
    check fail "no baselines from the workers" "$(tail -n 20 "$D/a.log"; tail -n 20 "$D/b.log")"
    exit 1
fi

out=$("$MXWATCH" watch --once --config "$CONF" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 2 ] && grep -q "another \`mxwatch watch\`" <<<"$out"; then
    check ok "mxwatch watch refuses the database while the workers run its inventory (exit 2)"
else
    check fail "mxwatch watch beside the workers: exit $rc" "$out"
fi

# 3. The zone changes; the worker that sees it first dies while confirming.
zone_edited=1
if out=$(zone_edit "20 mx2.healthy.test." "30 mx1.provider.test." 2>&1); then
    check ok "Knot: $ZONE MX 20 mx2.healthy.test. -> 30 mx1.provider.test. (knotc transaction)"
else
    check fail "knotc could not edit $ZONE" "$out"
    exit 1
fi
"${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
seen_by() { grep -q "change seen" "$D/$1.log"; }
someone_saw() { seen_by a || seen_by b; }
if poll 60 someone_saw; then
    if seen_by a; then
        victim=$a survivor=$b name=A other=b
    else
        victim=$b survivor=$a name=B other=a
    fi
    kill -KILL "$victim"
    wait "$victim" 2>/dev/null || true
    check ok "worker $name saw the change and was SIGKILLed while confirming it (holding the lease)"
else
    check fail "no worker saw the change" "$(tail -n 20 "$D/a.log"; tail -n 20 "$D/b.log")"
    exit 1
fi
if poll 60 count_at_least change 1; then
    if grep -q "change confirmed" "$D/$other.log"; then
        check ok "the surviving worker took the domain when the lease ran out, confirmed and alerted the change"
    else
        check fail "a change alert, but the surviving worker did not confirm it" "$(tail -n 20 "$D/$other.log")"
    fi
else
    check fail "no change alert" "$(tail -n 30 "$D/a.log"; tail -n 30 "$D/b.log")"
fi

# 4. Back as it was.
if out=$(zone_edit "30 mx1.provider.test." "20 mx2.healthy.test." 2>&1); then
    zone_edited=0
    "${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
    check ok "Knot: $ZONE edit reverted"
else
    check fail "knotc could not revert $ZONE" "$out"
fi
if poll 60 count_at_least resolved 1; then
    check ok "the revert was alerted as resolved"
else
    check fail "no resolved alert" "$(tail -n 30 "$D/a.log"; tail -n 30 "$D/b.log")"
fi

# 5. Once per change.
while IFS= read -r line; do
    case "$line" in
        "ok watchshare: "*) passed=$((passed + 1)); echo "$line" ;;
        "FAIL watchshare: "*) failed=$((failed + 1)); echo "$line" ;;
        *) show <<<"$line" ;;
    esac
done <<<"$(alerts check)"
recorded=$("$MXWATCH" changes --since 1h --format json --db "$URL" 2>&1)
verdict=$(python3 -c '
import json, sys
cs = json.loads(sys.argv[1])
keys = [(c["domain"], c["kind"], c["subject"], c.get("old"), c.get("new")) for c in cs]
dups = sorted({k for k in keys if keys.count(k) > 1}, key=str)
want = {("healthy.test", "mx-added", "mx1.provider.test"), ("healthy.test", "mx-removed", "mx2.healthy.test")}
print("ok" if not dups and want <= {k[:3] for k in keys} else f"duplicates {dups}; recorded {keys}")' "$recorded" 2>&1)
if [ "$verdict" = ok ]; then
    check ok "mxwatch changes: each change recorded once"
else
    check fail "mxwatch changes" "$verdict"
fi
kill -TERM "$survivor"
if poll 15 exited "$survivor"; then
    rc=0
    wait "$survivor" || rc=$?
    if [ "$rc" -eq 0 ]; then
        check ok "the surviving worker stopped cleanly on SIGTERM (exit 0)"
    else
        check fail "the surviving worker exited $rc" "$(tail -n 20 "$D/a.log"; tail -n 20 "$D/b.log")"
    fi
else
    check fail "the surviving worker did not stop within 15 s of SIGTERM"
fi
if grep -qi "panicked" "$D/a.log" "$D/b.log"; then
    check fail "a worker panicked" "$(grep -i -A5 panicked "$D/a.log" "$D/b.log")"
fi
finished=1
say "done in $((SECONDS)) s"
