#!/usr/bin/env bash
# Real-peers scenario for `mxwatch worker` (issue 13), run by tests/peers/run.sh after the watch
# scenario, while Knot (127.53.0.1) and Unbound (127.53.0.2) are up. Also runs by hand against
# peers left up by `run.sh --keep`:
#
#   bash tests/peers/workers.sh WORK-DIR [COUNTS-FILE]
#
# WORK-DIR is run.sh's work directory (knot.conf and unbound.conf are read from it; this script
# works in WORK-DIR/workers). COUNTS-FILE gets "PASSED FAILED" at the end; every check prints
# one "ok workers: ..." or "FAIL workers: ..." line. Environment: MXWATCH (default
# target/debug/mxwatch), RES_ADDR, PEERS_PG_PORT (its own PostgreSQL, default 55441),
# PEERS_WORKERS_DOMAINS (default 5000).
#
# The scenario, all on loopback:
#  1. a PostgreSQL cluster of its own (tests/peers/postgres.sh, WORK-DIR/workers/pg);
#  2. a wildcard MX added live to customer1.test in Knot (a knotc transaction, in memory only),
#     so N names *.bulk.customer1.test each have an MX, answered by Knot through Unbound;
#  3. `mxwatch scan LIST --enqueue` queues the N names; a reader (`scan --job`) streams the
#     results from the start;
#  4. workers A and B take the job; A is SIGKILLed mid-job, holding leases;
#  5. PostgreSQL is stopped for 15 s mid-job: B logs the pause and the resumption;
#     a third worker C joins after the restart;
#  6. B and C finish (A's expired leases taken again); the reader ends: every name exactly
#     once, each with its MX, nothing given up; `mxwatch workers` accounts for every line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${1:?usage: workers.sh WORK-DIR [COUNTS-FILE]}
COUNTS=${2:-}
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
RES_ADDR=${RES_ADDR:-127.53.0.2}
PG_PORT=${PEERS_PG_PORT:-55441}
N=${PEERS_WORKERS_DOMAINS:-5000}
ZONE=customer1.test

SCENARIO=workers
# shellcheck source=tests/peers/scenario.sh
source "$HERE/scenario.sh"

if ! "$MXWATCH" worker --help >/dev/null 2>&1; then
    echo "peers: mxwatch has no worker command yet; skipping the workers scenario" >&2
    write_counts
    exit 0
fi

KNOTC=(knotc -c "$WORK/knot.conf" -t 10)
UCTL=(unbound-control -c "$WORK/unbound.conf")
D="$WORK/workers"
rm -rf "$D"
mkdir -p "$D"
PG=(env MXWATCH_PG_DIR="$D/pg" MXWATCH_PG_PORT="$PG_PORT" bash "$HERE/postgres.sh")
pids=()
zone_edited=0
pg_started=0

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$zone_edited" -eq 1 ]; then
        "${KNOTC[@]}" zone-abort "$ZONE" >/dev/null 2>&1 || true
        wildcard unset >/dev/null 2>&1 || true
        "${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
    fi
    if [ "$pg_started" -eq 1 ]; then "${PG[@]}" stop >/dev/null 2>&1 || true; fi
    if [ "$finished" -eq 0 ]; then
        check fail "the scenario stopped early (exit $rc); worker B's log, last lines:" "$(tail -n 30 "$D/b.log" 2>/dev/null)"
    fi
    write_counts
    [ "$failed" -eq 0 ]
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wildcard set|unset: the *.bulk MX in one Knot transaction (in memory only, like watch.sh's
# edit: zonefile-sync is -1).
wildcard() {
    "${KNOTC[@]}" zone-begin "$ZONE" || return 1
    if "${KNOTC[@]}" "zone-$1" "$ZONE" '*.bulk' 3600 MX 10 mx1.provider.test. &&
        "${KNOTC[@]}" zone-commit "$ZONE"; then
        return 0
    fi
    "${KNOTC[@]}" zone-abort "$ZONE" || true
    return 1
}

# The job's state from `mxwatch workers --format json`: "lines results open".
job_state() {
    "$MXWATCH" workers --db "$URL" --format json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
print(j["lines"], j["results"], j["open"])'
}
results_at_least() { local s; s=$(job_state) && [ "$(echo "$s" | cut -d" " -f2)" -ge "$1" ]; }
leases_of_a() {
    "$MXWATCH" workers --db "$URL" --format json 2>/dev/null | python3 -c '
import json, sys
ws = json.load(sys.stdin)["workers"]
print(ws[0]["leases"] if ws else 0)'
}

worker() { # NAME: a worker in the background, logging to NAME.log; its PID in $last_pid
    MXWATCH_LOG=info "$MXWATCH" worker --db "$URL" --resolver "$RES_ADDR" --lab \
        --no-probe --no-ns-check --no-dnssec --no-dkim-guess --timeout 2 \
        --concurrency 32 --lease 5s --exit-when-idle >"$D/$1.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}

# 1. PostgreSQL.
if URL=$("${PG[@]}" start 2>"$D/pg.log"); then
    pg_started=1
    check ok "PostgreSQL of its own on 127.0.0.1:$PG_PORT"
else
    check fail "PostgreSQL did not start" "$(cat "$D/pg.log")"
    exit 1
fi

# 2. N names with an MX each, through Unbound.
zone_edited=1
if out=$(wildcard set 2>&1); then
    check ok "Knot: *.bulk.$ZONE MX added (knotc transaction)"
else
    check fail "knotc could not add *.bulk.$ZONE" "$out"
    exit 1
fi
"${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
answer=$(kdig "@$RES_ADDR" +timeout=2 +short "n1.bulk.$ZONE" MX 2>&1 || true)
if [ "$answer" = "10 mx1.provider.test." ]; then
    check ok "Unbound answers the wildcard: n1.bulk.$ZONE MX $answer"
else
    check fail "Unbound's answer for n1.bulk.$ZONE MX" "$answer"
fi

# 3. The job and a reader.
for i in $(seq 1 "$N"); do echo "n$i.bulk.$ZONE"; done >"$D/list.txt"
if job=$("$MXWATCH" scan "$D/list.txt" --db "$URL" --enqueue peers-bulk 2>"$D/enqueue.log") &&
    [[ "$job" =~ ^[0-9]+$ ]]; then
    check ok "scan --enqueue queued $N names as job $job"
else
    check fail "scan --enqueue" "$job $(cat "$D/enqueue.log")"
    exit 1
fi
"$MXWATCH" scan --job "$job" --db "$URL" --format jsonl --output "$D/results.jsonl" --top 0 \
    >"$D/reader.out" 2>"$D/reader.log" &
reader=$!
pids+=("$reader")

# 4. Two workers; A killed mid-job while it holds leases.
worker a
a=$last_pid
worker b
b=$last_pid
if poll 300 results_at_least $((N / 5)); then
    held=$(leases_of_a || echo 0)
    kill -KILL "$a"
    wait "$a" 2>/dev/null || true
    if [ "${held:-0}" -gt 0 ]; then
        check ok "worker A SIGKILLed mid-job ($(job_state | cut -d' ' -f2)/$N results) holding $held leases"
    else
        check fail "worker A held no leases when killed (it should have been working)" "$(tail -n 20 "$D/a.log")"
    fi
else
    check fail "the workers made no progress" "$(tail -n 20 "$D/b.log")"
    exit 1
fi

# 5. A PostgreSQL outage mid-job.
poll 300 results_at_least $((N / 2)) || true
before=$(job_state || echo "? ? ?")
# Down longer than a queue operation waits for a connection (10 s), so the workers' operations
# fail and they pause (a shorter outage is waited out inside the pool, silently), and longer
# than the lease (5 s), so leases taken before it have run out when it ends.
if "${PG[@]}" down 2>>"$D/pg.log"; then
    sleep 15
    if "${PG[@]}" up 2>>"$D/pg.log" >/dev/null; then
        check ok "PostgreSQL stopped for 15 s and started again mid-job (before: $before)"
    else
        check fail "PostgreSQL did not start again" "$(tail -n 20 "$D/pg.log")"
        exit 1
    fi
else
    check fail "PostgreSQL did not stop" "$(tail -n 20 "$D/pg.log")"
fi
worker c
c=$last_pid

# 6. The job completes.
finished_workers() { exited "$b" && exited "$c"; }
if poll 600 finished_workers; then
    rc_b=0 rc_c=0
    wait "$b" || rc_b=$?
    wait "$c" || rc_c=$?
    if [ "$rc_b" -eq 0 ] && [ "$rc_c" -eq 0 ]; then
        check ok "workers B and C finished the job and exited (exit 0)"
    else
        check fail "workers B/C exited $rc_b/$rc_c" "$(tail -n 20 "$D/b.log"; tail -n 20 "$D/c.log")"
    fi
else
    check fail "workers B and C did not finish within 600 s" "$(job_state; tail -n 20 "$D/b.log")"
    exit 1
fi
if grep -q "database unreachable" "$D/b.log" && grep -q "database reachable again" "$D/b.log"; then
    check ok "worker B logged the pause and the resumption"
else
    check fail "worker B's log has no pause/resume lines" "$(grep -i database "$D/b.log" | head; tail -n 10 "$D/b.log")"
fi
if grep -qi "panicked" "$D/b.log" "$D/c.log"; then
    check fail "a worker panicked" "$(grep -i -A5 panicked "$D/b.log" "$D/c.log")"
fi
if poll 60 exited "$reader"; then
    rc=0
    wait "$reader" || rc=$?
    if [ "$rc" -le 1 ]; then
        check ok "scan --job streamed through the outage and ended (exit $rc)"
    else
        check fail "scan --job exited $rc" "$(tail -n 20 "$D/reader.log")"
    fi
else
    check fail "scan --job did not end after the job finished" "$(tail -n 20 "$D/reader.log")"
fi

verdict=$(python3 - "$D/results.jsonl" "$N" "$ZONE" <<'PY'
import json, sys
path, n, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3]
records = [json.loads(l) for l in open(path)]
lines = [r["line"] for r in records]
problems = []
if len(records) != n:
    problems.append(f"{len(records)} records for {n} names")
if len(set(lines)) != len(lines):
    problems.append(f"{len(lines) - len(set(lines))} line(s) repeated")
if set(lines) != set(range(1, n + 1)):
    problems.append(f"missing lines: {sorted(set(range(1, n + 1)) - set(lines))[:10]}")
for r in records:
    want = f"n{r['line']}.bulk.{zone}"
    mx = (r.get("observation") or {}).get("mx") or {}
    got = [x.get("exchange", "").rstrip(".") for x in mx.get("value") or []]
    if r.get("domain") != want or got != ["mx1.provider.test"]:
        problems.append(f"line {r['line']}: domain {r.get('domain')} MX {got} {r.get('error', '')}")
        break
print("; ".join(problems) if problems else "ok")
PY
)
if [ "$verdict" = ok ]; then
    check ok "every one of the $N names came back exactly once, each with its MX"
else
    check fail "the results" "$verdict"
fi

listed=$("$MXWATCH" workers --db "$URL" --format json 2>&1)
accounts=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1]); n = int(sys.argv[2]); killed = int(sys.argv[3])
ws, job = d["workers"], d["jobs"][0]
done = sum(w["items_done"] for w in ws)
# The killed worker never said it stopped; the others did.
stopped = {w["pid"]: w["stopped_at_ms"] is not None for w in ws}
ok = (len(ws) == 3 and done == n and stopped.get(killed) is False
      and sum(stopped.values()) == 2
      and job["results"] == n and job["open"] == 0 and job["lines"] == n)
print("ok" if ok else f"workers {len(ws)}, done {done}, stopped {stopped}, job {job}")' "$listed" "$N" "$a" 2>&1)
if [ "$accounts" = ok ]; then
    check ok "mxwatch workers: 3 workers (A killed, B and C stopped cleanly), $N results written once between them"
else
    check fail "mxwatch workers" "$accounts"
fi

if out=$(wildcard unset 2>&1); then
    zone_edited=0
    "${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || true
    check ok "Knot: *.bulk.$ZONE removed again"
else
    check fail "knotc could not remove *.bulk.$ZONE" "$out"
fi
finished=1
say "done in $((SECONDS)) s"
