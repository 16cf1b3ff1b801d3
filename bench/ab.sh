#!/usr/bin/env bash
# Alternating rounds of several mxwatch builds (or wrappers setting an environment) against a zone
# set the harness already generated, for an A/B between builds in one sitting (docs/performance.md):
#
#   sudo bash bench/ab.sh DIR ROUNDS BIN...     e.g. DIR=target/bench/n10000
#
# Knot serves DIR's zones pinned to CPU 0, each build scans DIR/domains.txt pinned to CPU 1 with the
# harness's flags, in a private network namespace holding only `lo` (made here with `unshare -n`).
# Prints one JSON line per round: the build, then bench/measure.py's wall, CPU and peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(cd "${1:?usage: ab.sh DIR ROUNDS BIN...}" && pwd)
ROUNDS=${2:?usage: ab.sh DIR ROUNDS BIN...}
shift 2
[ $# -gt 0 ] || { echo "usage: ab.sh DIR ROUNDS BIN..." >&2; exit 2; }
if [ "${MXWATCH_AB_IN_NETNS:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench/ab.sh needs root (a network namespace)" >&2; exit 2; }
    exec unshare -n env MXWATCH_AB_IN_NETNS=1 bash "$0" "$DIR" "$ROUNDS" "$@"
fi
ip link set lo up
links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || { echo "not a loopback-only namespace: $links" >&2; exit 2; }

RUN=$(mktemp -d /tmp/mxwatch-ab.XXXXXX)
mkdir -p "$RUN/db"
# The harness's Knot configuration, with its run files moved here (DIR's zones are only read).
sed -e "s#rundir: .*#rundir: \"$RUN\"#" -e "s#storage: \"[^\"]*/db\"#storage: \"$RUN/db\"#" \
    -e "s#listen: \".*knot.sock\"#listen: \"$RUN/knot.sock\"#" "$DIR/knot.conf" > "$RUN/knot.conf"
taskset -c 0 knotd -c "$RUN/knot.conf" 2> "$RUN/knot.log" &
knot=$!
trap 'kill $knot 2>/dev/null; wait $knot 2>/dev/null; rm -rf "$RUN"' EXIT
for _ in $(seq 1 600); do
    kdig +time=1 +retry=0 @127.0.0.1 SOA bench. 2>/dev/null | grep -q NOERROR && break
    sleep 1
done
for _ in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do
        m=$(python3 "$ROOT/bench/measure.py" "$bin" -- taskset -c 1 "$bin" scan "$DIR/domains.txt" \
            --resolver 127.0.0.1:53 --lab --no-probe --no-dnssec --no-dkim-guess --format jsonl --top 0 \
            --concurrency 256 --max-queries 256 --timeout 3)
        echo "$m"
    done
done
