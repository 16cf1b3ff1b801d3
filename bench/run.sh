#!/usr/bin/env bash
# The bulk-scan benchmark, one command, loopback only (docs/performance.md has the results).
#
#   sudo bash bench/run.sh [SIZE...]        default: 10000 100000
#
# Runs inside a private network namespace that holds nothing but `lo` (created and removed
# here, as root), so no packet can leave the machine whatever a tool tries. For each SIZE:
# bench/gen_zones.py writes SIZE synthetic domains; Knot serves them pinned to CPU 0; the
# clients run pinned to CPU 1. The questions mxwatch asks are recorded once (through
# bench/record_questions.py) and become dnsperf's query file, the ideal client's workload. Then
# RUNS (default 3) alternating rounds of mxwatch and dnsperf (and checkdmarc on every 100th
# domain at the first size), each round counted at Knot (mod-stats). With Unbound in front
# (cold cache, restarted each round): one resolver against two.
#
# Environment: RUNS, CONCURRENCY (domains at once, default 256), MAX_QUERIES (questions in
# flight, default 256), BENCH_OUT (results directory, default target/bench), MXWATCH_BIN (a
# binary to measure instead of building target/release/mxwatch), SKIP_UNBOUND=1,
# SKIP_CHECKDMARC=1, SMTP=1 (also the SMTP-at-scale round: see bench/smtp_scale.sh),
# PROFILE=1 (instead of the rounds: one measured mxwatch round, then one under `perf record`
# with DWARF call graphs; the report goes to OUT/nSIZE/profile.txt; needs linux-perf).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NETNS=mxwatch-bench

if [ "${MXWATCH_BENCH_IN_NETNS:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (ip netns, taskset of servers)" >&2; exit 2; }
    need=()
    command -v knotd >/dev/null || need+=(knot)
    command -v kdig >/dev/null || need+=(knot-dnsutils)
    command -v dnsperf >/dev/null || need+=(dnsperf)
    command -v unbound >/dev/null || need+=(unbound)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get -y -q update && DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends install "${need[@]}"
    fi
    venv="${BENCH_VENV:-$ROOT/target/bench-venv}"
    if [ -z "${SKIP_CHECKDMARC:-}" ] && [ ! -x "$venv/bin/checkdmarc" ]; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q checkdmarc
    fi
    [ -n "${MXWATCH_BIN:-}" ] || (cd "$ROOT" && cargo build --release -q -p mxwatch)
    ip netns del "$NETNS" 2>/dev/null || true
    ip netns add "$NETNS"
    trap 'ip netns del "$NETNS"' EXIT
    ip netns exec "$NETNS" ip link set lo up
    ip netns exec "$NETNS" env MXWATCH_BENCH_IN_NETNS=1 BENCH_VENV="$venv" bash "$0" "$@"
    exit
fi

# Inside the namespace: refuse to run if anything but lo is there.
links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || { echo "not a loopback-only namespace: $links" >&2; exit 2; }

if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(10000 100000); fi
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-256}
MAX_QUERIES=${MAX_QUERIES:-256}
OUT=${BENCH_OUT:-$ROOT/target/bench}
BIN=${MXWATCH_BIN:-$ROOT/target/release/mxwatch}
VENV=${BENCH_VENV:-$ROOT/target/bench-venv}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
echo "results: $RESULTS" >&2
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

note() { echo "$*" >&2; }
record() { echo "$1" >> "$RESULTS"; note "$1"; }

start_knot() { # DIR
    local dir=$1
    mkdir -p "$dir/db"
    cat > "$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    user: root:root
    listen: 127.0.0.1@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$dir/knot.sock"
database:
    storage: "$dir/db"
log:
  - target: stderr
    any: warning
mod-stats:
  - id: bench
    request-protocol: on
    query-type: on
    response-code: on
template:
  - id: default
    storage: "$dir"
    semantic-checks: off
    global-module: mod-stats/bench
zone:
  - domain: bench.
    file: bench.zone
  - domain: 127.in-addr.arpa.
    file: ptr.zone
EOF
    taskset -c 0 knotd -c "$dir/knot.conf" 2> "$dir/knot.log" &
    pids+=($!)
    for _ in $(seq 1 600); do
        if kdig +time=1 +retry=0 @127.0.0.1 SOA bench. 2>/dev/null | grep -q NOERROR \
            && kdig +time=1 +retry=0 @127.0.0.1 SOA 127.in-addr.arpa. 2>/dev/null | grep -q NOERROR; then
            return 0
        fi
        sleep 1
    done
    note "Knot did not load the zones: $(tail -5 "$dir/knot.log")"; exit 4
}

# Questions Knot has received so far (mod-stats: the sum over request protocols).
knot_questions() { # DIR
    knotc -c "$1/knot.conf" stats mod-stats.request-protocol 2>/dev/null \
        | awk -F' = ' '{s += $2} END {print s + 0}'
}

mxwatch_scan() { # LIST RESOLVER...
    local list=$1; shift
    local flags=()
    for r in "$@"; do flags+=(--resolver "$r"); done
    taskset -c 1 "$BIN" scan "$list" "${flags[@]}" --lab --no-probe --no-dnssec --no-dkim-guess \
        --format jsonl --top 0 --concurrency "$CONCURRENCY" --max-queries "$MAX_QUERIES" --timeout 3
}

measure() { python3 "$ROOT/bench/measure.py" "$@"; }

# CPU time (clock ticks, user + system) that processes have used so far (/proc/PID/stat fields
# 14 and 15; the names here hold no spaces).
cpu_ticks() { # PID...
    local total=0 p fields
    for p in "$@"; do
        read -r -a fields < "/proc/$p/stat"
        total=$((total + fields[13] + fields[14]))
    done
    echo "$total"
}

# The first N lines of a perf report, without its comments and its padding.
top_lines() { # N FILE
    awk -v n="$1" '!/^#/ && NF { sub(/ +- +- *$/, ""); sub(/ +$/, ""); print; if (++k == n) exit }' "$2"
}

# One measured round, then the same scan under perf (the harness's flags, pinned to CPU 1).
profile_mxwatch() { # N DIR
    local n=$1 dir=$2 before after m
    before=$(knot_questions "$dir")
    m=$(measure mxwatch -- bash -c "$(declare -f mxwatch_scan); BIN=$BIN CONCURRENCY=$CONCURRENCY MAX_QUERIES=$MAX_QUERIES mxwatch_scan $dir/domains.txt 127.0.0.1:53")
    after=$(knot_questions "$dir")
    record "{\"size\": $n, \"run\": 1, \"tool\": \"mxwatch\", \"domains\": $n, \"knot_questions\": $((after - before)), \"m\": $m}"
    perf record -q -F 1000 --call-graph dwarf -o "$dir/perf.data" -- \
        bash -c "$(declare -f mxwatch_scan); BIN=$BIN CONCURRENCY=$CONCURRENCY MAX_QUERIES=$MAX_QUERIES mxwatch_scan $dir/domains.txt 127.0.0.1:53" > /dev/null || true  # exit 1: findings
    # Each view whole to a file first: `head` on a pipe would stop perf with SIGPIPE (pipefail).
    local view
    for view in "dso --no-children" "symbol --no-children" "symbol --children"; do
        # shellcheck disable=SC2086
        perf report -i "$dir/perf.data" --sort $view --stdio -g none > "$dir/perf-${view// /}.txt" 2>/dev/null || true
    done
    {
        echo "# self time by shared object"
        top_lines 15 "$dir/perf-dso--no-children.txt"
        echo "# self time by symbol"
        top_lines 60 "$dir/perf-symbol--no-children.txt"
        echo "# inclusive time by symbol (callers included)"
        top_lines 100 "$dir/perf-symbol--children.txt"
    } > "$dir/profile.txt"
    note "profile: $dir/profile.txt"
}

run_size() { # N
    local n=$1 dir=$OUT/n$n
    rm -rf "$dir"; mkdir -p "$dir"
    python3 "$ROOT/bench/gen_zones.py" "$n" "$dir"
    start_knot "$dir"
    local knot_pid=${pids[-1]}
    if [ -n "${PROFILE:-}" ]; then
        profile_mxwatch "$n" "$dir"
        kill "$knot_pid"; wait "$knot_pid" 2>/dev/null || true
        return
    fi
    # 1. The questions mxwatch asks, recorded on their way to Knot: dnsperf's query file.
    python3 "$ROOT/bench/record_questions.py" 127.0.0.2 53 127.0.0.1 53 "$dir/queries.txt" 2> "$dir/recorder.log" &
    local recorder=$!
    sleep 1
    mxwatch_scan "$dir/domains.txt" 127.0.0.2:53 > "$dir/recorded-scan.jsonl" || true
    kill -TERM "$recorder"; wait "$recorder" || true
    note "n=$n: $(cat "$dir/recorder.log")"
    local scanned
    scanned=$(grep -c '"domain"' "$dir/recorded-scan.jsonl" || true)
    record "{\"size\": $n, \"what\": \"recording\", \"questions\": $(wc -l < "$dir/queries.txt"), \"distinct\": $(sort -u "$dir/queries.txt" | wc -l), \"records_out\": $scanned}"
    # 2. Alternating rounds.
    for run in $(seq 1 "$RUNS"); do
        local before after
        before=$(knot_questions "$dir")
        local m
        m=$(measure mxwatch -- bash -c "$(declare -f mxwatch_scan); BIN=$BIN CONCURRENCY=$CONCURRENCY MAX_QUERIES=$MAX_QUERIES mxwatch_scan $dir/domains.txt 127.0.0.1:53")
        after=$(knot_questions "$dir")
        record "{\"size\": $n, \"run\": $run, \"tool\": \"mxwatch\", \"domains\": $n, \"knot_questions\": $((after - before)), \"m\": $m}"
        # Its run time per question sent bounds the ideal client's cost per question (it has CPU 1
        # to itself; its CPU time says less, as it polls while it waits for the last replies).
        local secs lost sent
        taskset -c 1 dnsperf -s 127.0.0.1 -p 53 -d "$dir/queries.txt" -c 1 -T 1 -q "$MAX_QUERIES" -n 1 -t 3 > "$dir/dnsperf-$run.txt" 2>&1 || true
        secs=$(awk '/Run time \(s\)/ {print $4}' "$dir/dnsperf-$run.txt")
        lost=$(awk '/Queries lost/ {print $3}' "$dir/dnsperf-$run.txt")
        sent=$(awk '/Queries sent/ {print $3}' "$dir/dnsperf-$run.txt")
        record "{\"size\": $n, \"run\": $run, \"tool\": \"dnsperf\", \"domains\": $n, \"run_s\": ${secs:-0}, \"lost\": ${lost:-0}, \"sent\": ${sent:-0}}"
        if [ -z "${SKIP_CHECKDMARC:-}" ] && [ "$n" = "${SIZES[0]}" ]; then
            local c subset
            subset=$(wc -l < "$dir/subset.txt")
            # The list first: -n and -o take several values. No --check-mx-tls: DNS only, as mxwatch.
            c=$(measure checkdmarc -- taskset -c 1 "$VENV/bin/checkdmarc" "$dir/subset.txt" -n 127.0.0.1 -t 3 -f json -o "$dir/checkdmarc-$run.json")
            record "{\"size\": $n, \"run\": $run, \"tool\": \"checkdmarc\", \"domains\": $subset, \"m\": $c}"
        fi
    done
    # 3. Unbound in front, cold cache: one resolver, then two.
    if [ -z "${SKIP_UNBOUND:-}" ] && [ "$n" = "${SIZES[0]}" ]; then
        for run in $(seq 1 "$RUNS"); do
            for count in 1 2; do
                local resolvers=()
                for i in $(seq 1 "$count"); do
                    start_unbound "$dir" "127.0.0.$((10 + i))"
                    resolvers+=("127.0.0.$((10 + i)):53")
                done
                local m servers_before servers_after
                servers_before=$(cpu_ticks "$knot_pid" "${unbound_pids[@]}")
                m=$(measure "mxwatch-unbound-$count" -- bash -c "$(declare -f mxwatch_scan); BIN=$BIN CONCURRENCY=$CONCURRENCY MAX_QUERIES=$MAX_QUERIES mxwatch_scan $dir/domains.txt ${resolvers[*]}")
                servers_after=$(cpu_ticks "$knot_pid" "${unbound_pids[@]}")
                # The servers' CPU (Knot and the Unbounds, all on CPU 0) during the round: near
                # the round's wall time, CPU 0 was saturated and the servers were the wall.
                record "{\"size\": $n, \"run\": $run, \"tool\": \"mxwatch+unbound\", \"resolvers\": $count, \"domains\": $n, \"servers_cpu_s\": $(awk -v t=$((servers_after - servers_before)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'), \"m\": $m}"
                stop_unbounds
            done
        done
    fi
    kill "$knot_pid"; wait "$knot_pid" 2>/dev/null || true
}

unbound_pids=()
start_unbound() { # DIR ADDRESS
    local conf=$1/unbound-$2.conf
    cat > "$conf" <<EOF
server:
    interface: $2
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$1"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    so-rcvbuf: 4m
    msg-cache-size: 64m
    rrset-cache-size: 128m
    num-queries-per-thread: 1024
    outgoing-range: 2048
stub-zone:
    name: "bench."
    stub-addr: 127.0.0.1@53
stub-zone:
    name: "127.in-addr.arpa."
    stub-addr: 127.0.0.1@53
EOF
    taskset -c 0 unbound -c "$conf" 2> "$1/unbound-$2.log" &
    unbound_pids+=($!)
    for _ in $(seq 1 100); do
        kdig +time=1 +retry=0 "@$2" SOA bench. 2>/dev/null | grep -q NOERROR && return 0
        sleep 0.2
    done
    note "Unbound on $2 did not start: $(tail -3 "$1/unbound-$2.log")"; exit 4
}

stop_unbounds() {
    for p in "${unbound_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    unbound_pids=()
}

for n in "${SIZES[@]}"; do
    run_size "$n"
done
python3 "$ROOT/bench/summarise.py" "$RESULTS" | tee "$OUT/summary.md"
