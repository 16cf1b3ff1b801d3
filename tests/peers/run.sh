#!/usr/bin/env bash
# Real-peers test: serve the lab zones with Knot (authoritative, also the
# lab's root) and Unbound (recursive), then run mxwatch against Unbound and
# check the finding IDs against crates/mxwatch-lab/expectations.txt.
#
#   bash tests/peers/run.sh               # install if needed, run everything
#   bash tests/peers/run.sh --no-mxwatch  # only bring the peers up, run the kdig checks, stop
#   bash tests/peers/run.sh --keep        # leave the peers running afterwards
#
# Must run as root (it binds port 53 and may apt-get install). Everything it
# starts listens on, and talks to, loopback only: Knot on 127.53.0.1:53,
# Unbound on 127.53.0.2:53; Unbound's only upstream is Knot, and a
# do-not-query-address list keeps it off every address outside 127/8.
#
# Environment: MXWATCH=path to the binary (default target/debug/mxwatch,
# built with cargo if missing); PEERS_MXWATCH_TIMEOUT (seconds, default 150).
set -euo pipefail

AUTH_ADDR=127.53.0.1     # Knot: the root, test., lab.test., the lab domains
RES_ADDR=127.53.0.2      # Unbound
LAME_ADDR=127.53.0.99    # the lame delegation's server: nothing listens there
PACKAGES=(knot unbound knot-dnsutils knot-dnssecutils)

no_mxwatch=0
keep=0
for arg in "$@"; do
    case "$arg" in
        --no-mxwatch) no_mxwatch=1 ;;
        --keep) keep=1 ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ZONEDIR="$REPO/crates/mxwatch-lab/zones"
EXPECT="$REPO/crates/mxwatch-lab/expectations.txt"

say() { echo "peers: $*" >&2; }
die() {
    echo "peers: ERROR: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (port 53, apt-get)"
[ -d "$ZONEDIR" ] || die "no zone directory $ZONEDIR"
[ -f "$EXPECT" ] || die "no expectations file $EXPECT"

# ---------------------------------------------------------------- install --
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep Debian from starting the packaged knot/unbound services.
        printf '#!/bin/sh\n# written by mxwatch tests/peers/run.sh for the install only\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    install_rc=0
    {
        apt-get update -q || say "apt-get update reported errors; trying the install anyway"
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    } || install_rc=$?
    if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$install_rc" -eq 0 ] || die "apt-get install ${missing[*]} failed ($install_rc)"
fi
for cmd in knotd knotc kdig kzonecheck unbound unbound-checkconf python3; do
    command -v "$cmd" >/dev/null || die "$cmd not found after the install"
done

# ------------------------------------------------------------- preflight --
SECONDS=0 # timings below are from the end of the install

# 127.0.0.0/8 is all on lo in Linux: the lab's addresses need no setup.
# Check that, and that nobody holds port 53 on them already. Knot and Unbound
# bind with SO_REUSEPORT, so a second instance (a packaged service, an
# earlier --keep run) would start "fine" and share the queries: refuse. We
# never stop what we did not start.
for d in knotd unbound; do
    running=$(ps -C "$d" -o pid=,args= 2>/dev/null | head -n 3 | sed 's/^ *//' | paste -sd ';' -) || true
    if [ -n "$running" ]; then
        say "note: $d is already running (not ours, left alone): $running"
    fi
done
if ! python3 - "$AUTH_ADDR" "$RES_ADDR" <<'PY'; then
import socket, sys
bad = False
for addr in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, 0))  # is the address usable at all?
    except OSError as e:
        sys.exit(f"cannot use {addr} on loopback: {e}")
    s.close()
    for kind, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        try:
            s.bind((addr, 53))
            if kind == socket.SOCK_STREAM:
                s.listen(1)
        except OSError as e:
            print(f"peers: {addr}:53/{name} is taken: {e}", file=sys.stderr)
            bad = True
        finally:
            s.close()
sys.exit(1 if bad else 0)
PY
    if command -v ss >/dev/null; then
        { ss -H -lnup; ss -H -lntp; } 2>/dev/null | awk '$4 ~ /:53$/' >&2 || true
    fi
    die "port 53 on $AUTH_ADDR or $RES_ADDR is not free (see above); stop whatever holds it first"
fi

# Every zone file must satisfy Knot's semantic checks.
zones=()
for f in "$ZONEDIR"/*.zone; do
    base=$(basename "$f" .zone)
    if [ "$base" = root ]; then origin=.; else origin="$base."; fi
    kzonecheck -o "$origin" "$f" >/dev/null 2>&1 || {
        kzonecheck -v -o "$origin" "$f" >&2 || true
        die "Knot rejects $f"
    }
    zones+=("$origin")
done
[ "${#zones[@]}" -gt 0 ] || die "no zone files in $ZONEDIR"

# --------------------------------------------------------------- start up --
WORK=$(mktemp -d /tmp/mxwatch-peers.XXXXXX)
knot_pid=""
unbound_pid=""
status_ok=0

# shellcheck disable=SC2317  # the two functions below run from the EXIT trap
stop_peers() {
    local pid
    for pid in $unbound_pid $knot_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    for pid in $unbound_pid $knot_pid; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    done
}

# shellcheck disable=SC2317
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ] && [ "$status_ok" -eq 0 ]; then
        for log in "$WORK/knotd.log" "$WORK/unbound.log"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 20 "$log" >&2
            fi
        done
    fi
    if [ "$keep" -eq 1 ] && [ -n "$knot_pid$unbound_pid" ]; then
        cat >"$WORK/stop.sh" <<EOF
#!/bin/sh
# Stops the peers started by tests/peers/run.sh --keep.
kill $knot_pid $unbound_pid 2>/dev/null
sleep 1
rm -rf '$WORK'
EOF
        chmod 755 "$WORK/stop.sh"
        say "--keep: Knot (pid $knot_pid) on $AUTH_ADDR:53 and Unbound (pid $unbound_pid) on $RES_ADDR:53 are still running"
        say "        configs and logs are in $WORK"
        say "        stop them with: sh $WORK/stop.sh    (or: kill $knot_pid $unbound_pid)"
    else
        stop_peers
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/knot/run" "$WORK/knot/db" "$WORK/unbound"

{
    cat <<EOF
# Generated by tests/peers/run.sh from tests/peers/knot.conf.in
EOF
    sed -e "s|@WORK@|$WORK|g" -e "s|@ZONEDIR@|$ZONEDIR|g" -e "s|@AUTH_ADDR@|$AUTH_ADDR|g" \
        "$HERE/knot.conf.in"
    echo "zone:"
    for f in "$ZONEDIR"/*.zone; do
        base=$(basename "$f" .zone)
        if [ "$base" = root ]; then origin=.; else origin="$base."; fi
        printf '  - domain: "%s"\n    file: "%s"\n' "$origin" "$(basename "$f")"
    done
} >"$WORK/knot.conf"

sed -e "s|@WORK@|$WORK|g" -e "s|@AUTH_ADDR@|$AUTH_ADDR|g" -e "s|@RES_ADDR@|$RES_ADDR|g" \
    "$HERE/unbound.conf.in" >"$WORK/unbound.conf"

knotc -c "$WORK/knot.conf" conf-check >/dev/null || die "knot.conf does not check: $(knotc -c "$WORK/knot.conf" conf-check 2>&1)"
unbound-checkconf "$WORK/unbound.conf" >/dev/null || die "unbound.conf does not check: $(unbound-checkconf "$WORK/unbound.conf" 2>&1)"

knotd -c "$WORK/knot.conf" >"$WORK/knotd.log" 2>&1 </dev/null &
knot_pid=$!
unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 </dev/null &
unbound_pid=$!
say "started knotd (pid $knot_pid) on $AUTH_ADDR:53, unbound (pid $unbound_pid) on $RES_ADDR:53; work dir $WORK"

# kdig against a lab server only (never the system resolver).
dig_at() { # server name type [kdig options...]
    local server=$1 name=$2 type=$3
    shift 3
    kdig "@$server" -p 53 +timeout=2 +retry=0 "$@" "$name" "$type" 2>&1 || true
}
rcode_of() { sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n 1; }

# Wait (bounded) until Knot serves every zone authoritatively and Unbound answers.
deadline=$((SECONDS + 30))
pending=("${zones[@]}")
while :; do
    kill -0 "$knot_pid" 2>/dev/null || die "knotd exited early"
    kill -0 "$unbound_pid" 2>/dev/null || die "unbound exited early"
    still=()
    for z in "${pending[@]}"; do
        out=$(dig_at "$AUTH_ADDR" "$z" SOA +norec +timeout=1)
        if [ "$(rcode_of <<<"$out")" = NOERROR ] && grep -q 'Flags: qr aa' <<<"$out"; then :; else still+=("$z"); fi
    done
    pending=("${still[@]+"${still[@]}"}")
    if [ "${#pending[@]}" -eq 0 ] && [ "$(dig_at "$RES_ADDR" . SOA +timeout=1 | rcode_of)" = NOERROR ]; then
        break
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "peers not ready after 30 s (Knot still missing: ${pending[*]:-none})"
    sleep 0.2
done
say "Knot serves ${#zones[@]} zones; Unbound answers"

# ------------------------------------------------------ kdig sanity checks --
# The lab as a real resolver sees it; if these fail, the lab (not mxwatch) is broken.
san_pass=0
san_fail=0
san() { # description, command status: 0 ok
    if [ "$1" = ok ]; then
        san_pass=$((san_pass + 1))
        echo "ok kdig $2"
    else
        san_fail=$((san_fail + 1))
        echo "FAIL kdig $2"
    fi
}
# expect NAME TYPE RCODE [egrep pattern that must match the output] [extra kdig options]
expect() {
    local name=$1 type=$2 want=$3 pat=${4:-} out got
    shift 3
    [ $# -gt 0 ] && shift
    out=$(dig_at "$RES_ADDR" "$name" "$type" "$@")
    got=$(rcode_of <<<"$out")
    if [ "$got" = "$want" ] && { [ -z "$pat" ] || grep -Eq -- "$pat" <<<"$out"; }; then
        san ok "$name $type: $got${pat:+ /$pat/}"
    else
        san fail "$name $type: want $want${pat:+ /$pat/}, got ${got:-no answer}"
        sed 's/^/    | /' <<<"$out" | grep -v '^    | $' | head -n 30
    fi
}

# Every zone is reachable through Unbound (i.e. delegated in the lab's test./root).
for z in "${zones[@]}"; do
    expect "$z" SOA NOERROR 'SOA[[:space:]]+ns1\.lab\.test\.'
done

# lame.test: SERVFAIL, and soon.
t0=$(date +%s%N)
out=$(dig_at "$RES_ADDR" lame.test MX +timeout=10)
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$(rcode_of <<<"$out")" = SERVFAIL ] && [ "$ms" -lt 5000 ]; then
    san ok "lame.test MX: SERVFAIL in ${ms} ms"
else
    san fail "lame.test MX: want SERVFAIL within 5 s, got ${ms} ms:"
    sed 's/^/    | /' <<<"$out" | head -n 20
fi
expect lame.test A SERVFAIL
if kdig "@$LAME_ADDR" -p 53 +timeout=1 +retry=0 lame.test SOA 2>&1 | grep -q 'status:'; then
    san fail "something answers at $LAME_ADDR:53: lame.test is not lame"
else
    san ok "nothing answers at $LAME_ADDR:53"
fi

expect lapsed-provider.test NS NXDOMAIN
expect mx.lapsed-provider.test A NXDOMAIN
expect gone.provider.test A NXDOMAIN
expect mail.noaddr.test A NOERROR 'ANSWER: 0;'
expect mail.noaddr.test TXT NOERROR 'ANSWER: 1;'
expect none.test MX NOERROR 'ANSWER: 0;'
expect none.test A NOERROR 'ANSWER: 0;'
expect implicit.test MX NOERROR 'ANSWER: 0;'
expect implicit.test A NOERROR 'A[[:space:]]+127\.0\.1\.20'
expect nullmx.test MX NOERROR 'MX[[:space:]]+0 \.$'
expect nullpref.test MX NOERROR 'MX[[:space:]]+10 \.$'
expect iptarget.test MX NOERROR 'MX[[:space:]]+10 127\.0\.1\.30\.$'
expect 127.0.1.30. A NXDOMAIN
expect cname.test MX NOERROR 'MX[[:space:]]+10 mail\.cname\.test\.'
expect mail.cname.test A NOERROR 'CNAME[[:space:]]+mx1\.provider\.test\.'
expect typo.test MX NOERROR 'MX[[:space:]]+10 mx1\.typo\.test\.typo\.test\.'
expect mx1.typo.test.typo.test A NXDOMAIN
expect private.test MX NOERROR 'ANSWER: 2;'
expect mail.private.test A NOERROR 'A[[:space:]]+10\.20\.30\.40'
expect backup.private.test A NOERROR 'A[[:space:]]+192\.0\.2\.25'
expect duplicate.test MX NOERROR 'ANSWER: 2;'
expect toomany.test MX NOERROR 'ANSWER: 12;'
expect mx12.toomany.test A NOERROR '127\.0\.1\.112'
expect lowttl.test MX NOERROR 'lowttl\.test\.[[:space:]]+(60|5[0-9])[[:space:]]+IN[[:space:]]+MX'
expect highttl.test MX NOERROR 'highttl\.test\.[[:space:]]+60(4[0-9]{3})[[:space:]]+IN[[:space:]]+MX'
expect _mail.syntax.test A NOERROR '127\.0\.1\.43'
expect xn--bcher-kva.test MX NOERROR 'ANSWER: 2;'

# many.test: truncated over UDP, complete over TCP.
expect many.test MX NOERROR 'Flags: qr tc' +ignore +notcp
expect many.test MX NOERROR 'ANSWER: 500;' +tcp
expect many.test MX NOERROR 'ANSWER: 500;' # kdig falls back to TCP by itself

# loop.test: SERVFAIL or the looping chain; never NXDOMAIN.
out=$(dig_at "$RES_ADDR" a.loop.test A)
got=$(rcode_of <<<"$out")
case "$got" in
    SERVFAIL | NOERROR) san ok "a.loop.test A: $got (a CNAME loop; either is fine)" ;;
    *) san fail "a.loop.test A: want SERVFAIL or NOERROR, got ${got:-no answer}" ;;
esac
expect loop.test MX NOERROR 'MX[[:space:]]+10 a\.loop\.test\.'

# PTRs (reverse zone 127.in-addr.arpa. is delegated from the lab root).
expect 1.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+mx1\.provider\.test\.'
expect 2.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+mx2\.provider\.test\.'
expect 10.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+mx1\.healthy\.test\.'
expect 20.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+implicit\.test\.'
expect 40.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+mail\.single\.test\.'
expect 41.1.0.127.in-addr.arpa PTR NXDOMAIN
expect 42.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+unrelated\.provider\.test\.'
expect unrelated.provider.test A NOERROR 'A[[:space:]]+127\.0\.1\.99'
expect 43.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+_mail\.syntax\.test\.'
expect 112.1.0.127.in-addr.arpa PTR NOERROR 'PTR[[:space:]]+mx12\.toomany\.test\.'

say "kdig checks: $san_pass passed, $san_fail failed (${SECONDS} s after the install)"

if [ "$no_mxwatch" -eq 1 ]; then
    status_ok=1
    echo "peers: $san_pass passed, $san_fail failed"
    [ "$san_fail" -eq 0 ] || exit 1
    exit 0
fi
[ "$san_fail" -eq 0 ] || die "the lab peers fail $san_fail kdig checks: not running mxwatch"

# ---------------------------------------------------------------- mxwatch --
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
if [ ! -x "$MXWATCH" ]; then
    say "no $MXWATCH: cargo build -p mxwatch"
    (cd "$REPO" && cargo build -q -p mxwatch) || die "cargo build -p mxwatch failed"
    [ -x "$MXWATCH" ] || die "still no $MXWATCH after cargo build"
fi

mapfile -t domains < <(sed -e 's/#.*//' "$EXPECT" | awk 'NF { print $1 }')
[ "${#domains[@]}" -gt 0 ] || die "no domains in $EXPECT"

say "running: $MXWATCH check --resolver $RES_ADDR --lab --no-probe --format json <${#domains[@]} domains>"
t0=$SECONDS
rc=0
timeout "${PEERS_MXWATCH_TIMEOUT:-150}" "$MXWATCH" check --resolver "$RES_ADDR" --lab --no-probe --format json \
    "${domains[@]}" >"$WORK/mxwatch.json" 2>"$WORK/mxwatch.stderr" || rc=$?
say "mxwatch exited $rc after $((SECONDS - t0)) s"
case "$rc" in
    0 | 1 | 3) ;;
    124) sed 's/^/    | /' "$WORK/mxwatch.stderr" | tail -n 20 >&2; die "mxwatch timed out" ;;
    *)
        sed 's/^/    | /' "$WORK/mxwatch.stderr" | tail -n 40 >&2
        die "mxwatch exited $rc (0, 1 and 3 are the normal ones)"
        ;;
esac

verdict=0
python3 - "$EXPECT" "$WORK/mxwatch.json" <<'PY' || verdict=$?
import json
import sys

expect_path, report_path = sys.argv[1], sys.argv[2]


def norm(domain):
    return domain.strip().rstrip(".").lower()


expectations = []  # (domain, must, must_not, clean)
for lineno, raw in enumerate(open(expect_path, encoding="utf-8"), 1):
    line = raw.split("#", 1)[0].split()
    if not line:
        continue
    domain, tokens = norm(line[0]), line[1:]
    must, must_not, clean = [], [], False
    for tok in tokens:
        if tok == "clean":
            clean = True
        elif tok[:1] == "+" and len(tok) > 1:
            must.append(tok[1:])
        elif tok[:1] == "-" and len(tok) > 1:
            must_not.append(tok[1:])
        else:
            sys.exit(f"{expect_path}:{lineno}: bad token {tok!r}")
    if clean and (must or must_not):
        sys.exit(f"{expect_path}:{lineno}: 'clean' must stand alone")
    if not (clean or must or must_not):
        sys.exit(f"{expect_path}:{lineno}: no expectation for {domain}")
    expectations.append((domain, must, must_not, clean))


def give_up(why):
    print(f"FAIL all: {why}")
    print(f"peers: 0 passed, {len(expectations)} failed")
    sys.exit(1)


try:
    with open(report_path, encoding="utf-8") as f:
        reports = json.load(f)
except (OSError, ValueError) as e:
    give_up(f"mxwatch output is not JSON: {e}")
if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
    give_up("mxwatch output is not a JSON array of report objects")

found = {}
for report in reports:
    ids = [str(f.get("id")) if isinstance(f, dict) else repr(f) for f in report.get("findings") or []]
    found.setdefault(norm(report.get("domain", "")), []).extend(ids)

passed = failed = 0
for domain, must, must_not, clean in expectations:
    if domain not in found:
        print(f"FAIL {domain}: no report for it")
        failed += 1
        continue
    ids = found[domain]
    missing = [i for i in must if i not in ids]
    if clean:
        unexpected = sorted(set(ids))
    else:
        unexpected = [i for i in must_not if i in ids]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + " ".join(missing))
        if unexpected:
            parts.append("unexpected " + " ".join(unexpected))
        got = " ".join(sorted(set(ids))) or "nothing"
        print(f"FAIL {domain}: " + ", ".join(parts) + f" (got: {got})")
        failed += 1
    else:
        print(f"ok {domain}")
        passed += 1

print(f"peers: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
status_ok=1
if [ "$verdict" -ne 0 ] && [ -s "$WORK/mxwatch.stderr" ]; then
    say "mxwatch's stderr (last lines):"
    tail -n 20 "$WORK/mxwatch.stderr" | sed 's/^/    | /' >&2
fi
say "done in ${SECONDS} s after the install"
[ "$verdict" -eq 0 ] || exit 1
exit 0
