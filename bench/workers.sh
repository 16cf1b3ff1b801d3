#!/usr/bin/env bash
# Throughput of `mxwatch worker`s sharing one queued scan (figures in docs/performance.md). Runs
# against the real peers left up by `bash tests/peers/run.sh --keep` (Knot on 127.53.0.1,
# Unbound on 127.53.0.2) and a PostgreSQL server on loopback:
#
#   bash bench/workers.sh PEERS-WORK-DIR POSTGRES-URL N WORKERS [CONCURRENCY]
#
# It adds a wildcard MX (*.bulk.customer1.test, a knotc transaction in memory only) so that
# N names each have an MX answered by Knot through Unbound, queues them as one job in a new
# database on the server, runs WORKERS workers (DNS only, no DNSSEC, like the bulk benchmark)
# until the job is done, and prints domains/s, the database's commits and row writes per
# domain, and the stored size of a result. Everything is on loopback. MXWATCH picks the binary
# (default target/release/mxwatch).
set -euo pipefail

WORK=${1:?usage: workers.sh PEERS-WORK-DIR POSTGRES-URL N WORKERS [CONCURRENCY]}
SERVER=${2:?postgres URL}
N=${3:?number of names}
K=${4:?number of workers}
CONCURRENCY=${5:-64}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/release/mxwatch}
RES_ADDR=${RES_ADDR:-127.53.0.2}
ZONE=customer1.test
KNOTC=(knotc -c "$WORK/knot.conf" -t 10)
UCTL=(unbound-control -c "$WORK/unbound.conf")
PSQL=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)
DB="mxwatch_bench_$$"
URL="${SERVER%/*}/$DB"
D=$(mktemp -d)

wildcard() {
    "${KNOTC[@]}" zone-begin "$ZONE" >/dev/null
    "${KNOTC[@]}" "zone-$1" "$ZONE" '*.bulk' 3600 MX 10 mx1.provider.test. >/dev/null
    "${KNOTC[@]}" zone-commit "$ZONE" >/dev/null
    "${UCTL[@]}" flush_zone "$ZONE" >/dev/null
}
cleanup() {
    wildcard unset 2>/dev/null || true
    "$PSQL" "$SERVER" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT

wildcard set
"$PSQL" "$SERVER" -qc "CREATE DATABASE $DB"
for i in $(seq 1 "$N"); do echo "n$i.bulk.$ZONE"; done >"$D/list.txt"
job=$("$MXWATCH" scan "$D/list.txt" --db "$URL" --enqueue bench 2>/dev/null)
stats() {
    "$PSQL" "$URL" -Atc "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()"
}
# pg_stat counters are sent by each backend at the end of its transactions (and at most every
# few hundred ms): read them after a pause, before and after.
sleep 1
before=$(stats)
start=$(date +%s.%N)
pids=()
for w in $(seq 1 "$K"); do
    "$MXWATCH" worker --db "$URL" --resolver "$RES_ADDR" --lab --no-probe --no-ns-check \
        --no-dnssec --no-dkim-guess --timeout 2 --concurrency "$CONCURRENCY" --exit-when-idle \
        2>"$D/worker-$w.log" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
end=$(date +%s.%N)
sleep 2
after=$(stats)
bytes=$("$PSQL" "$URL" -Atc "SELECT round(avg(length(payload))), pg_size_pretty(pg_total_relation_size('work_results')) FROM work_results WHERE job_id = $job")
python3 - "$N" "$K" "$start" "$end" "$before" "$after" "$bytes" <<'PY'
import sys
n, k = int(sys.argv[1]), int(sys.argv[2])
secs = float(sys.argv[4]) - float(sys.argv[3])
(c0, w0), (c1, w1) = (map(int, s.split("|")) for s in sys.argv[5:7])
avg, total = sys.argv[7].split("|")
print(f"{n} names, {k} worker(s): {secs:.1f} s, {n / secs:.0f} domains/s; "
      f"{(c1 - c0) / n:.3f} commits and {(w1 - w0) / n:.2f} row writes per domain; "
      f"a result {avg} bytes (gzip), work_results {total}")
PY
