#!/usr/bin/env bash
# Bulk collection benchmark: mxwatch's DNS collector against dnspython's asyncio
# resolver (the named peer), both against the in-process lab resolver on
# 127.0.0.1, in the same run. Loopback only. Results: docs/performance.md.
#
#   bash bench/run.sh [DOMAINS] [PROVIDERS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${BENCH_VENV:-target/bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "dnspython==2.9.*"
fi
cargo build --release -p mxwatch-probe --example bulk
PEER_PYTHON="$venv/bin/python" target/release/examples/bulk "${1:-20000}" "${2:-100}" "${3:-256}"
