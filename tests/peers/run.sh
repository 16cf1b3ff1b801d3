#!/usr/bin/env bash
# Real-peers test: serve the lab zones with Knot (authoritative, also the
# lab's root) and Unbound (recursive), then run mxwatch against Unbound and
# check the finding IDs against crates/mxwatch-lab/expectations.txt. Postfix
# is the real SMTP peer of the smtp-*.test lab domains: when mxwatch has its
# SMTP probe, it is run again against Postfix and checked against
# tests/peers/expectations-postfix*.txt.
#
#   bash tests/peers/run.sh               # install if needed, run everything
#   bash tests/peers/run.sh --no-mxwatch  # only bring the peers up, run the kdig, openssl and swaks checks, stop
#   bash tests/peers/run.sh --keep        # leave the peers running afterwards
#
# Must run as root (it binds ports 53 and 25 and may apt-get install).
# Everything it starts listens on, and talks to, loopback only: Knot on
# 127.53.0.1:53, Unbound on 127.53.0.2:53 (its only upstream is Knot, and a
# do-not-query-address list keeps it off every address outside 127/8),
# Postfix on 127.0.2.x:25 (it looks nothing up in DNS and delivers nothing).
#
# Environment: MXWATCH=path to the binary (default target/debug/mxwatch,
# built with cargo if missing); PEERS_MXWATCH_TIMEOUT (seconds per mxwatch
# run, default 150).
set -euo pipefail

AUTH_ADDR=127.53.0.1     # Knot: the root, test., lab.test., the lab domains
RES_ADDR=127.53.0.2      # Unbound
LAME_ADDR=127.53.0.99
NS2_ADDR=127.53.0.3      # a second Knot: a stale copy of nsdiff.test (zones/secondary)
NS3_ADDR=127.53.0.4      # a third Knot with no zones: answers REFUSED (nslame.test is lame there)    # the lame delegation's server: nothing listens there
PACKAGES=(knot unbound knot-dnsutils knot-dnssecutils postfix openssl swaks)
# Postfix (tests/peers/postfix-master.cf.in): one smtpd per address below.
PF_ADDRS=(127.0.2.1 127.0.2.2 127.0.2.3 127.0.2.4 127.0.2.5 127.0.2.6 127.0.2.7
    127.0.2.8 127.0.2.9 127.0.2.14 127.0.2.21 127.0.2.22 127.0.2.23)
# Where nothing may listen on port 25: smtp-down's mx1, smtp-alldown's two
# exchanges, and the behaviours only the in-process Rust lab shows.
PF_UNBOUND=(127.0.2.10 127.0.2.12 127.0.2.13 127.0.2.15 127.0.2.16 127.0.2.17
    127.0.2.18 127.0.2.19 127.0.2.20 127.0.2.24)

no_mxwatch=0
keep=0
for arg in "$@"; do
    case "$arg" in
        --no-mxwatch) no_mxwatch=1 ;;
        --keep) keep=1 ;;
        -h | --help)
            sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
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
EXPECT_PF="$HERE/expectations-postfix.txt"
EXPECT_PF_NOCA="$HERE/expectations-postfix-no-ca.txt"

say() { echo "peers: $*" >&2; }
die() {
    echo "peers: ERROR: $*" >&2
    exit 1
}
# DNSSEC and DANE (Knot signing, Unbound validating, TLSA for Postfix): dnssec.sh.
# shellcheck source=tests/peers/dnssec.sh
source "$HERE/dnssec.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (ports 53 and 25, apt-get)"
[ -d "$ZONEDIR" ] || die "no zone directory $ZONEDIR"
for f in "$EXPECT" "$EXPECT_PF" "$EXPECT_PF_NOCA" "$HERE/expectations-ns.txt"; do
    [ -f "$f" ] || die "no expectations file $f"
done

# ---------------------------------------------------------------- install --
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep Debian from starting the packaged knot/unbound/postfix services.
        printf '#!/bin/sh\n# written by mxwatch tests/peers/run.sh for the install only\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Postfix's package asks how to set up the system's mail: not at all (no
    # /etc/postfix/main.cf; this script uses its own configuration directory).
    if ! installed postfix; then
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    fi
    install_rc=0
    {
        apt-get update -q || say "apt-get update reported errors; trying the install anyway"
        # --no-remove: fail rather than replace an installed MTA (exim4, ...) with postfix.
        apt-get install -y -q --no-install-recommends --no-remove "${missing[@]}"
    } || install_rc=$?
    if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$install_rc" -eq 0 ] || die "apt-get install ${missing[*]} failed ($install_rc)"
fi
for cmd in knotd knotc kdig kzonecheck unbound unbound-checkconf unbound-control postfix postconf openssl swaks python3; do
    command -v "$cmd" >/dev/null || die "$cmd not found after the install"
done

# ------------------------------------------------------------- preflight --
SECONDS=0 # timings below are from the end of the install

# 127.0.0.0/8 is all on lo in Linux: the lab's addresses need no setup.
# Check that, and that nobody holds port 53 on them already. Knot and Unbound
# bind with SO_REUSEPORT, so a second instance (a packaged service, an
# earlier --keep run) would start "fine" and share the queries: refuse. We
# never stop what we did not start. The same for Postfix's port 25 on every
# 127.0.2.x address the SMTP lab domains use, bound by us or not: a packaged
# MTA on 0.0.0.0:25 would answer where nothing must.
for d in knotd unbound master; do
    running=$(ps -C "$d" -o pid=,args= 2>/dev/null | head -n 3 | sed 's/^ *//' | paste -sd ';' -) || true
    if [ -n "$running" ]; then
        say "note: $d is already running (not ours, left alone): $running"
    fi
done
if ! python3 - "$AUTH_ADDR" "$RES_ADDR" "$NS2_ADDR" "$NS3_ADDR" <<'PY'; then
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
if ! python3 - "${PF_ADDRS[@]}" "${PF_UNBOUND[@]}" "${DANE_ADDRS[@]}" <<'PY'; then
import socket, sys
bad = False
for addr in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
    try:
        s.bind((addr, 25))
        s.listen(1)
    except OSError as e:
        print(f"peers: {addr}:25/tcp is taken: {e}", file=sys.stderr)
        bad = True
    finally:
        s.close()
sys.exit(1 if bad else 0)
PY
    if command -v ss >/dev/null; then
        ss -H -lntp 2>/dev/null | awk '$4 ~ /:25$/' >&2 || true
    fi
    die "port 25 on the SMTP lab addresses (127.0.2.x) is not free (see above); stop whatever holds it first"
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
PF="$WORK/postfix" # Postfix: etc/ (config), spool/, data/, ca/, tls/, maillog
PF_ETC="$PF/etc"
LAB_ROOT="$PF/tls/lab-root.pem" # the lab CA's root: mxwatch's --ca-file
knot_pid=""
knot_extra=""
unbound_pid=""
pf_pid="" # `postfix start-fg`, the parent of Postfix's master
status_ok=0

# shellcheck disable=SC2317  # the functions below run from the EXIT trap
stop_postfix() {
    local master="" _
    [ -n "$pf_pid" ] || return 0
    if kill -0 "$pf_pid" 2>/dev/null; then
        master=$(sed -n '1s/^ *\([0-9][0-9]*\).*/\1/p' "$PF/spool/pid/master.pid" 2>/dev/null) || true
        # "postfix stop" sends the master (its pid file) SIGTERM: it stops its
        # smtpd processes and exits, and so does `postfix start-fg`.
        postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
        for _ in $(seq 1 100); do
            kill -0 "$pf_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pf_pid" 2>/dev/null; then
            if [ -n "$master" ] && [ "$(cat "/proc/$master/comm" 2>/dev/null)" = master ]; then
                kill -9 "$master" 2>/dev/null || true
            fi
            kill -9 "$pf_pid" 2>/dev/null || true
        fi
    fi
    wait "$pf_pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
stop_peers() {
    local pid
    stop_postfix
    for pid in $unbound_pid $knot_pid $knot_extra; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    for pid in $unbound_pid $knot_pid $knot_extra; do
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
        for log in "$WORK/knotd.log" "$WORK/unbound.log" "$PF/master.log" "$PF/maillog"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 20 "$log" >&2
            fi
        done
    fi
    if [ "$keep" -eq 1 ] && [ -n "$knot_pid$unbound_pid" ]; then
        local stop_postfix_line=""
        if [ -n "$pf_pid" ]; then stop_postfix_line="postfix -c '$PF_ETC' stop >/dev/null 2>&1"; fi
        cat >"$WORK/stop.sh" <<EOF
#!/bin/sh
# Stops the peers started by tests/peers/run.sh --keep.
$stop_postfix_line
kill $knot_pid $knot_extra $unbound_pid 2>/dev/null
sleep 1
rm -rf '$WORK'
EOF
        chmod 755 "$WORK/stop.sh"
        say "--keep: Knot (pid $knot_pid) on $AUTH_ADDR:53 and Unbound (pid $unbound_pid) on $RES_ADDR:53 are still running"
        if [ -n "$pf_pid" ]; then
            say "        and Postfix on 127.0.2.x:25 (config $PF_ETC, log $PF/maillog, lab root CA $LAB_ROOT)"
        fi
        say "        configs and logs are in $WORK"
        say "        stop them with: sh $WORK/stop.sh"
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

# The nameserver lab (nsdiff/nslame/nsdown .test): ns2 serves a stale nsdiff.test,
# ns3 serves nothing (REFUSED: lame), nothing listens on ns4 (127.53.0.5).
for extra in 2 3; do
    addr_var="NS${extra}_ADDR"
    mkdir -p "$WORK/knot$extra/run" "$WORK/knot$extra/db"
    {
        echo "# Generated by tests/peers/run.sh: nameserver lab ns$extra"
        sed -e "s|@WORK@/knot|$WORK/knot$extra|g" -e "s|@ZONEDIR@|$ZONEDIR/secondary|g" \
            -e "s|@AUTH_ADDR@|${!addr_var}|g" "$HERE/knot.conf.in"
        if [ "$extra" = 2 ]; then
            printf 'zone:\n  - domain: "nsdiff.test."\n    file: "nsdiff.test.zone"\n'
        fi
    } >"$WORK/knot$extra.conf"
    knotc -c "$WORK/knot$extra.conf" conf-check >/dev/null || die "knot$extra.conf does not check"
done

sed -e "s|@WORK@|$WORK|g" -e "s|@AUTH_ADDR@|$AUTH_ADDR|g" -e "s|@RES_ADDR@|$RES_ADDR|g" \
    "$HERE/unbound.conf.in" >"$WORK/unbound.conf"

knotc -c "$WORK/knot.conf" conf-check >/dev/null || die "knot.conf does not check: $(knotc -c "$WORK/knot.conf" conf-check 2>&1)"
unbound-checkconf "$WORK/unbound.conf" >/dev/null || die "unbound.conf does not check: $(unbound-checkconf "$WORK/unbound.conf" 2>&1)"

# ------------------------------------------------- Postfix: certificates --
# A fresh lab CA every run (root -> intermediate -> leaves), made with openssl
# from tests/peers/lab-ca.cnf; each server's file is key + leaf + intermediate.
# OpenSSL 3.0's `x509 -req` cannot set past dates: `openssl ca -startdate
# -enddate` makes the expired certificate.
mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$PF/ca/issued" "$PF/tls"
# Postfix's daemons (and its master, for data/) open their files as the
# postfix user: it must get through the work directory (mktemp made it 0700).
# Nothing in it is secret; the private keys are 0600 root.
chmod 711 "$WORK" "$PF"
chown postfix:postfix "$PF/data" # Postfix insists (master.lock lives there)
chmod 700 "$PF/data"
: >"$PF/ca/index.txt"
openssl rand -hex 8 >"$PF/ca/serial"
export LAB_CA_DIR="$PF/ca" LAB_NAME=unused
ossl() { # openssl with its chatter in openssl.log
    if ! openssl "$@" >>"$PF/openssl.log" 2>&1; then
        tail -n 20 "$PF/openssl.log" | sed 's/^/    | /' >&2
        die "openssl $1 failed: openssl $*"
    fi
}
leaf() { # file-name dns-name key-file [openssl ca validity options...]
    local file=$1 name=$2 key=$3
    shift 3
    LAB_NAME=$name ossl req -new -config "$HERE/lab-ca.cnf" -key "$key" -out "$PF/ca/$file.csr" -subj "/CN=$name"
    LAB_NAME=$name ossl ca -batch -config "$HERE/lab-ca.cnf" -notext -extensions v3_leaf \
        -cert "$PF/ca/intermediate.pem" -keyfile "$PF/ca/intermediate.key" \
        "$@" -in "$PF/ca/$file.csr" -out "$PF/ca/$file.crt"
    cat "$key" "$PF/ca/$file.crt" "$PF/ca/intermediate.pem" >"$PF/tls/$file.pem"
}
(
    umask 077
    # RSA keys take a quarter of a second each here: the servers share one
    # 2048-bit key (as many real MX fleets do); the weak one has its own.
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PF/ca/root.key"
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PF/ca/intermediate.key"
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PF/ca/server.key"
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$PF/ca/weak.key"
    ossl req -x509 -new -config "$HERE/lab-ca.cnf" -key "$PF/ca/root.key" -days 3650 \
        -extensions v3_root -subj "/CN=mxwatch lab root CA" -out "$LAB_ROOT"
    ossl req -new -config "$HERE/lab-ca.cnf" -key "$PF/ca/intermediate.key" \
        -subj "/CN=mxwatch lab intermediate CA" -out "$PF/ca/intermediate.csr"
    # The intermediate is back-dated, like a real one that has been issuing for years: the
    # expired leaf below was issued while it was valid (a chain valid at one moment).
    ossl ca -batch -config "$HERE/lab-ca.cnf" -notext -extensions v3_intermediate \
        -startdate 20190101000000Z -enddate "$(date -u -d '+3650 days' +%Y%m%d%H%M%SZ)" \
        -cert "$LAB_ROOT" -keyfile "$PF/ca/root.key" -in "$PF/ca/intermediate.csr" -out "$PF/ca/intermediate.pem"
    for name in mx1.smtp-ok.test mx2.smtp-ok.test mx1.smtp-notls.test mx1.smtp-banner.test \
        mx1.smtp-oldtls.test mx1.smtp-weakcipher.test mx1.smtp-relay.test; do
        leaf "$name" "$name" "$PF/ca/server.key" -days 365
    done
    leaf mx1.smtp-expired.test mx1.smtp-expired.test "$PF/ca/server.key" \
        -startdate 20200101000000Z -enddate 20200401000000Z
    leaf mx1.smtp-expiring.test mx1.smtp-expiring.test "$PF/ca/server.key" -days 5
    leaf mx1.smtp-wrongname.test wrong.example.net "$PF/ca/server.key" -days 365
    leaf mx1.smtp-weakkey.test mx1.smtp-weakkey.test "$PF/ca/weak.key" -days 365
    LAB_NAME=mx1.smtp-selfsigned.test ossl req -x509 -new -config "$HERE/lab-ca.cnf" -key "$PF/ca/server.key" \
        -days 365 -extensions v3_selfsigned -subj "/CN=mx1.smtp-selfsigned.test" \
        -out "$PF/ca/mx1.smtp-selfsigned.test.crt"
    cat "$PF/ca/server.key" "$PF/ca/mx1.smtp-selfsigned.test.crt" >"$PF/tls/mx1.smtp-selfsigned.test.pem"
    chmod 644 "$LAB_ROOT"
) || exit 1

# ------------------------------------------------------ Postfix: config --
sed -e "s|@PFDIR@|$PF|g" "$HERE/postfix-main.cf.in" >"$PF_ETC/main.cf"
sed -e "s|@PFDIR@|$PF|g" "$HERE/postfix-master.cf.in" >"$PF_ETC/master.cf"
while read -r f; do
    [ -s "$f" ] || die "master.cf names $f, which was not made"
done < <(sed -n 's/.*smtpd_tls_chain_files=\([^ ]*\).*/\1/p' "$PF_ETC/master.cf")

dnssec_prepare # signs the zones (copies), TLSA, trust anchor, DANE Postfix hosts
knotd -c "$WORK/knot.conf" >"$WORK/knotd.log" 2>&1 </dev/null &
knot_pid=$!
for extra in 2 3; do
    knotd -c "$WORK/knot$extra.conf" >"$WORK/knotd$extra.log" 2>&1 </dev/null &
    knot_extra="$knot_extra $!"
done
unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 </dev/null &
unbound_pid=$!
say "started knotd (pid $knot_pid) on $AUTH_ADDR:53, unbound (pid $unbound_pid) on $RES_ADDR:53; work dir $WORK"
# start-fg: `postfix check` (which also makes the queue directories; it logs
# to maillog), then the master in the foreground, as a child of `postfix`
# (whose pid we hold), so the trap can stop it and reap it.
postfix -c "$PF_ETC" start-fg >>"$PF/master.log" 2>&1 </dev/null &
pf_pid=$!
say "started postfix (pid $pf_pid) on ${#PF_ADDRS[@]} addresses 127.0.2.x:25; lab root CA $LAB_ROOT"

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

# Wait (bounded) until every Postfix address greets.
if ! python3 - "$pf_pid" 30 "$PF/maillog" "${PF_ADDRS[@]}" "${DANE_ADDRS[@]}" <<'PY'; then
import os, socket, sys, time
pid, limit, maillog, addrs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
deadline = time.monotonic() + limit
pending = list(addrs)
while pending:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("peers: postfix exited early")
    try:
        with open(maillog, encoding="utf-8", errors="replace") as f:
            fatal = [line.strip() for line in f if " fatal: " in line]
    except OSError:
        fatal = []
    if fatal:
        sys.exit(f"peers: Postfix reports: {fatal[0]}")
    still = []
    for addr in pending:
        try:
            with socket.create_connection((addr, 25), timeout=2) as s:
                s.settimeout(2)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    data += chunk
                s.sendall(b"QUIT\r\n")
                if not data.startswith(b"220 "):
                    still.append(addr)
        except OSError:
            still.append(addr)
    pending = still
    if pending:
        if time.monotonic() > deadline:
            sys.exit(f"peers: Postfix not ready after {limit:.0f} s on: {' '.join(pending)}")
        time.sleep(0.2)
PY
    die "Postfix did not come up (see its logs below)"
fi
say "Postfix greets on all ${#PF_ADDRS[@]} addresses"

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

# Every zone is reachable through Unbound (i.e. delegated in the lab's test./root);
# +cd: the bogus-on-purpose zones too (dnssec_kdig_checks checks validation).
for z in "${zones[@]}"; do
    expect "$z" SOA NOERROR 'SOA[[:space:]]+ns1\.lab\.test\.' +cd
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

dnssec_kdig_checks
say "kdig checks: $san_pass passed, $san_fail failed (${SECONDS} s after the install)"

# ------------------------------------------ Postfix: openssl, swaks checks --
# Each Postfix address as an SMTP client sees it; if these fail, the lab
# (not mxwatch) is broken. openssl and swaks only ever get an IP address to
# connect to, so neither looks anything up.
pf_pass=0
pf_fail=0
psan() { # ok|fail description [output to show on failure]
    if [ "$1" = ok ]; then
        pf_pass=$((pf_pass + 1))
        echo "ok postfix $2"
    else
        pf_fail=$((pf_fail + 1))
        echo "FAIL postfix $2"
        if [ -n "${3:-}" ]; then sed 's/^/    | /' <<<"$3" | grep -v '^    | $' | head -n 40 || true; fi
    fi
}

# pf_smtp ADDR GREETING-NAME STARTTLS(yes|no) RELAY(yes|no): swaks up to
# RCPT TO a foreign address, then QUIT (never DATA).
pf_smtp() {
    local addr=$1 want_name=$2 want_tls=$3 want_relay=$4 out rc=0 name tls relay
    out=$(timeout 30 swaks --server "$addr" --port 25 --timeout 10 --helo peers.lab.test \
        --from probe@peers.lab.test --to someone@example.invalid --quit-after RCPT 2>&1) || rc=$?
    name=$(sed -n 's/^<-  220 \([^ ]*\) .*/\1/p' <<<"$out" | head -n 1)
    if grep -Eq '^<-  250[- ]STARTTLS' <<<"$out"; then tls=yes; else tls=no; fi
    case "$rc" in
        0) relay=yes ;;  # RCPT TO someone@example.invalid: 250
        24) relay=no ;;  # swaks: RCPT refused
        *) relay="swaks exit $rc" ;;
    esac
    if [ "$name" = "$want_name" ] && [ "$tls" = "$want_tls" ] && [ "$relay" = "$want_relay" ]; then
        psan ok "$addr: greets as $name, STARTTLS $tls, relays $relay"
    else
        psan fail "$addr: want greeting $want_name, STARTTLS $want_tls, relay $want_relay; got ${name:-no greeting}, $tls, $relay" "$out"
    fi
}

# pf_tls ADDR NAME PROTO VERIFY SUBJECT-CN KEY-BITS CHAIN-LEN [s_client options...]
# openssl s_client -starttls smtp against ADDR, with SNI and host name NAME
# and the lab root as the only trust anchor. PROTO "none": the handshake must
# fail (the other fields are then "-"). VERIFY: OpenSSL's verify return code.
pf_tls() {
    local addr=$1 name=$2 want_proto=$3 want_verify=$4 want_cn=$5 want_bits=$6 want_chain=$7 out
    local proto cipher verify cn bits chain got want
    shift 7
    out=$(printf 'QUIT\r\n' | timeout 30 openssl s_client -starttls smtp -name peers.lab.test \
        -connect "$addr:25" -servername "$name" -verify_hostname "$name" -CAfile "$LAB_ROOT" "$@" 2>&1) || true
    proto=$(sed -n 's/^New, \([^,]*\), Cipher is .*/\1/p' <<<"$out" | head -n 1 | sed 's/^TLSv1$/TLSv1.0/')
    cipher=$(sed -n 's/^New, [^,]*, Cipher is \(.*\)/\1/p' <<<"$out" | head -n 1)
    verify=$(sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    cn=$(sed -n 's/^ *0 s:.*CN *= *\([^,/]*\).*/\1/p' <<<"$out" | head -n 1)
    bits=$(sed -n 's/^Server public key is \([0-9]*\) bit.*/\1/p' <<<"$out" | head -n 1)
    chain=$(grep -Ec '^ *[0-9]+ s:' <<<"$out") || true
    PF_TLS_OUT=$out
    local opts=${*:+ $*}
    if [ "$want_proto" = none ]; then
        if [ -z "$proto" ] || [ "$proto" = "(NONE)" ]; then
            psan ok "$addr$opts: no TLS handshake, as wanted"
        else
            psan fail "$addr$opts: the handshake should fail, got $proto $cipher" "$out"
        fi
        return
    fi
    got="$proto $cipher, verify $verify, CN $cn, $bits-bit key, $chain certificates"
    want="$want_proto, verify $want_verify, CN $want_cn, $want_bits-bit key, $want_chain certificates"
    if [ "$proto" = "$want_proto" ] && [ "$verify" = "$want_verify" ] && [ "$cn" = "$want_cn" ] &&
        [ "$bits" = "$want_bits" ] && [ "$chain" = "$want_chain" ]; then
        psan ok "$addr$opts: $got"
    else
        psan fail "$addr$opts: want $want; got $got" "$out"
    fi
}

# Greeting, STARTTLS offered or not, relaying.
pf_smtp 127.0.2.1 mx1.smtp-ok.test yes no
pf_smtp 127.0.2.2 mx2.smtp-ok.test yes no
pf_smtp 127.0.2.3 mx1.smtp-notls.test yes no
pf_smtp 127.0.2.4 mx2.smtp-notls.test no no
pf_smtp 127.0.2.5 mx1.smtp-expired.test yes no
pf_smtp 127.0.2.6 mx1.smtp-expiring.test yes no
pf_smtp 127.0.2.7 mx1.smtp-selfsigned.test yes no
pf_smtp 127.0.2.8 mx1.smtp-wrongname.test yes no
pf_smtp 127.0.2.9 mx1.smtp-weakkey.test yes no
pf_smtp 127.0.2.14 unrelated.example.net yes no
pf_smtp 127.0.2.21 mx1.smtp-oldtls.test yes no
pf_smtp 127.0.2.22 mx1.smtp-weakcipher.test yes no
pf_smtp 127.0.2.23 mx1.smtp-relay.test yes yes

# TLS: version, suite, certificate. Verify codes: 0 ok, 10 expired,
# 18 self-signed, 62 host name mismatch, 66 end-entity key too weak.
pf_tls 127.0.2.1 mx1.smtp-ok.test TLSv1.3 0 mx1.smtp-ok.test 2048 2
pf_tls 127.0.2.2 mx2.smtp-ok.test TLSv1.3 0 mx2.smtp-ok.test 2048 2
pf_tls 127.0.2.3 mx1.smtp-notls.test TLSv1.3 0 mx1.smtp-notls.test 2048 2
pf_tls 127.0.2.4 mx2.smtp-notls.test none - - - -
pf_tls 127.0.2.5 mx1.smtp-expired.test TLSv1.3 10 mx1.smtp-expired.test 2048 2
pf_tls 127.0.2.6 mx1.smtp-expiring.test TLSv1.3 0 mx1.smtp-expiring.test 2048 2
# ... and the certificate it sent expires in 4 to 6 days.
served=$(sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/p' <<<"$PF_TLS_OUT")
if [ -n "$served" ] && ! openssl x509 -noout -checkend $((6 * 86400)) <<<"$served" >/dev/null &&
    openssl x509 -noout -checkend $((4 * 86400)) <<<"$served" >/dev/null; then
    psan ok "127.0.2.6: its certificate expires in 4 to 6 days ($(openssl x509 -noout -enddate <<<"$served"))"
else
    psan fail "127.0.2.6: its certificate should expire in 4 to 6 days" "$served"
fi
pf_tls 127.0.2.7 mx1.smtp-selfsigned.test TLSv1.3 18 mx1.smtp-selfsigned.test 2048 1
pf_tls 127.0.2.8 mx1.smtp-wrongname.test TLSv1.3 62 wrong.example.net 2048 2
pf_tls 127.0.2.8 wrong.example.net TLSv1.3 0 wrong.example.net 2048 2 # the chain itself is good
pf_tls 127.0.2.9 mx1.smtp-weakkey.test TLSv1.3 66 mx1.smtp-weakkey.test 1024 2
pf_tls 127.0.2.14 mx1.smtp-banner.test TLSv1.3 0 mx1.smtp-banner.test 2048 2
pf_tls 127.0.2.23 mx1.smtp-relay.test TLSv1.3 0 mx1.smtp-relay.test 2048 2
# smtp-oldtls: TLS 1.0 and nothing else (an OpenSSL 3 client needs security
# level 0 for TLS 1.0 too).
pf_tls 127.0.2.21 mx1.smtp-oldtls.test none - - - -
pf_tls 127.0.2.21 mx1.smtp-oldtls.test none - - - - -tls1_2
pf_tls 127.0.2.21 mx1.smtp-oldtls.test none - - - - -tls1_3
pf_tls 127.0.2.21 mx1.smtp-oldtls.test none - - - - -tls1_1 -cipher DEFAULT:@SECLEVEL=0
pf_tls 127.0.2.21 mx1.smtp-oldtls.test TLSv1.0 0 mx1.smtp-oldtls.test 2048 2 -tls1 -cipher DEFAULT:@SECLEVEL=0
# smtp-weakcipher: TLS 1.2 with a CBC suite, never TLS 1.3 nor an AEAD suite
# (rustls offers only ECDHE with AES-GCM or ChaCha20-Poly1305).
pf_tls 127.0.2.22 mx1.smtp-weakcipher.test TLSv1.2 0 mx1.smtp-weakcipher.test 2048 2
if grep -Eq '^New, TLSv1\.2, Cipher is (AES256-SHA256|AES128-SHA256|AES256-SHA|AES128-SHA)$' <<<"$PF_TLS_OUT"; then
    psan ok "127.0.2.22: the suite is CBC with RSA key exchange"
else
    psan fail "127.0.2.22: want a CBC suite (AES*-SHA*)" "$(grep '^New,' <<<"$PF_TLS_OUT")"
fi
pf_tls 127.0.2.22 mx1.smtp-weakcipher.test none - - - - -tls1_3
pf_tls 127.0.2.22 mx1.smtp-weakcipher.test none - - - - -tls1_2 -cipher ECDHE+AESGCM:ECDHE+CHACHA20
pf_tls 127.0.2.22 mx1.smtp-weakcipher.test none - - - - -tls1_2 -cipher AESGCM:CHACHA20:AESCCM

# Nothing listens where nothing must (smtp-down, smtp-alldown, Rust-lab-only).
for addr in "${PF_UNBOUND[@]}"; do
    if timeout 5 bash -c ": <>/dev/tcp/$addr/25" 2>/dev/null; then
        psan fail "$addr:25 accepts connections: nothing must listen there"
    else
        psan ok "$addr:25 refuses connections"
    fi
done
# Postfix's master listens on exactly the 127.0.2.x addresses of master.cf.
pf_master=$(sed -n '1s/^ *\([0-9][0-9]*\).*/\1/p' "$PF/spool/pid/master.pid" 2>/dev/null) || true
if command -v ss >/dev/null && [ -n "$pf_master" ]; then
    got=$(ss -H -lntup 2>/dev/null | grep "pid=$pf_master," | awk '{ print $5 }' | sort -V | paste -sd ' ' -) || true
    want=$(printf '%s:25\n' "${PF_ADDRS[@]}" "${DANE_ADDRS[@]}" | sort -V | paste -sd ' ' -)
    if [ "$got" = "$want" ]; then
        psan ok "master listens on ${#PF_ADDRS[@]} addresses, all 127.0.2.x:25, and nothing else"
    else
        psan fail "master should listen on $want; listens on ${got:-nothing}"
    fi
fi

# pf_nothing_queued LABEL: Postfix never got DATA (or BDAT) and queued no
# message. It would refuse DATA and discard any mail (main.cf), but nothing
# may even get that far.
pf_nothing_queued() {
    local queued log
    queued=$(find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" "$PF/spool/hold" \
        "$PF/spool/maildrop" -type f 2>/dev/null | wc -l)
    log=$(grep -E 'message-id=|: from=<|(data|bdat)=[0-9]' "$PF/maillog" 2>/dev/null | head -n 5) || true
    if [ "$queued" -eq 0 ] && [ -z "$log" ]; then
        psan ok "$1: no DATA, no message queued"
    else
        psan fail "$1: $queued queue files; Postfix log:" "$log"
    fi
}
pf_nothing_queued "after the swaks and openssl checks"

dane_postfix_checks
say "postfix checks: $pf_pass passed, $pf_fail failed (${SECONDS} s after the install)"

if [ "$no_mxwatch" -eq 1 ]; then
    status_ok=1
    echo "peers: $((san_pass + pf_pass)) passed, $((san_fail + pf_fail)) failed"
    [ $((san_fail + pf_fail)) -eq 0 ] || exit 1
    exit 0
fi
[ "$san_fail" -eq 0 ] || die "the lab peers fail $san_fail kdig checks: not running mxwatch"
[ "$pf_fail" -eq 0 ] || die "the Postfix peer fails $pf_fail checks: not running mxwatch"

# ---------------------------------------------------------------- mxwatch --
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
if [ ! -x "$MXWATCH" ]; then
    say "no $MXWATCH: cargo build -p mxwatch"
    (cd "$REPO" && cargo build -q -p mxwatch) || die "cargo build -p mxwatch failed"
    [ -x "$MXWATCH" ] || die "still no $MXWATCH after cargo build"
fi

# run_mxwatch LABEL EXPECTATIONS-FILE [mxwatch check options...]: run
# `mxwatch check --resolver $RES_ADDR --lab OPTIONS --format json` on the
# file's domains and check its finding IDs against the file. Adds to
# total_pass / total_fail.
total_pass=0
total_fail=0
run_mxwatch() {
    local label=$1 expect=$2 rc=0 t0 out counts p f
    shift 2
    local domains=()
    # Lines with per-domain options (dkim-selector=, dnsbl=) need flags of their own: the Rust lab
    # tests run them one by one; this shared run leaves them out (the parser below says so).
    mapfile -t domains < <(sed -e 's/#.*//' "$expect" | awk 'NF && !/=/ { print $1 }')
    [ "${#domains[@]}" -gt 0 ] || die "no domains in $expect"
    out="$WORK/mxwatch-$label"
    # MX_DNSSEC (dnssec.sh): --trust-anchor with the lab root's DS once Knot signs the zones, so
    # every run validates and the DNSSEC-*/DANE-* lines count; --no-dnssec (and those lines
    # skipped below) otherwise.
    say "running ($label): $MXWATCH check --resolver $RES_ADDR --lab ${MX_DNSSEC[*]} ${*:+$* }--format json <${#domains[@]} domains>"
    t0=$SECONDS
    timeout "${PEERS_MXWATCH_TIMEOUT:-150}" "$MXWATCH" check --resolver "$RES_ADDR" --lab "${MX_DNSSEC[@]}" "$@" --format json \
        "${domains[@]}" >"$out.json" 2>"$out.stderr" || rc=$?
    say "mxwatch ($label) exited $rc after $((SECONDS - t0)) s"
    case "$rc" in
        0 | 1 | 3) ;;
        124) sed 's/^/    | /' "$out.stderr" | tail -n 20 >&2; die "mxwatch ($label) timed out" ;;
        *)
            sed 's/^/    | /' "$out.stderr" | tail -n 40 >&2
            die "mxwatch ($label) exited $rc (0, 1 and 3 are the normal ones)"
            ;;
    esac

    python3 - "$expect" "$out.json" "$label" "$out.counts" <<'PY' || true
import json
import os
import sys

expect_path, report_path, label, counts_path = sys.argv[1:5]
tag = "" if label == "dns" else f" ({label})"


def norm(domain):
    return domain.strip().rstrip(".").lower()


def done(passed, failed):
    with open(counts_path, "w", encoding="utf-8") as f:
        f.write(f"{passed} {failed}\n")
    sys.exit(0)


expectations = []  # (domain, must, must_not, clean)
for lineno, raw in enumerate(open(expect_path, encoding="utf-8"), 1):
    line = raw.split("#", 1)[0].split()
    if not line:
        continue
    domain, tokens = norm(line[0]), line[1:]
    must, must_not, clean, options = [], [], False, []
    for tok in tokens:
        if tok == "clean":
            clean = True
        elif tok.startswith(("dkim-selector=", "dnsbl=")):
            options.append(tok)
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
    if options:
        print(f"skip {domain}{tag}: checked with {' '.join(options)} (the Rust lab tests run it alone)")
        continue
    if os.environ.get("PEERS_DNSSEC") != "1" and any(t.startswith(("DNSSEC-", "DANE-")) for t in must + must_not):
        print(f"skip {domain}{tag}: DNSSEC/DANE expectations need signed zones (not served by these peers yet)")
        continue
    expectations.append((domain, must, must_not, clean))


def give_up(why):
    print(f"FAIL all{tag}: {why}")
    done(0, len(expectations))


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
        print(f"FAIL {domain}{tag}: no report for it")
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
        print(f"FAIL {domain}{tag}: " + ", ".join(parts) + f" (got: {got})")
        failed += 1
    else:
        print(f"ok {domain}{tag}")
        passed += 1
done(passed, failed)
PY
    counts=$(cat "$out.counts" 2>/dev/null) || die "cannot check mxwatch's output against $expect (see above)"
    read -r p f <<<"$counts"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    # (no "N failed" here: .ci/run adds up every such count in the log)
    say "$label run: $p of $((p + f)) domains as expected"
    if [ "$f" -ne 0 ] && [ -s "$out.stderr" ]; then
        say "mxwatch's stderr ($label, last lines):"
        tail -n 20 "$out.stderr" | sed 's/^/    | /' >&2
    fi
}

# 1. DNS only, every lab domain.
run_mxwatch dns "$EXPECT" --no-probe

# 1b. The nameserver comparison against three real Knot servers (and a silent address).
run_mxwatch nameservers "$HERE/expectations-ns.txt" --no-probe

# 2. The SMTP probe against Postfix, once the binary has it.
mx_help=$("$MXWATCH" check --help 2>&1) || true
if ! grep -q -- '--ca-file' <<<"$mx_help"; then
    say "mxwatch has no SMTP probe yet; skipping the Postfix runs"
else
    # pf_log_since N: Postfix's log after its first N lines, once every
    # connection in it has logged its disconnect (postlogd may lag a little).
    pf_log_since() {
        local new _
        for _ in $(seq 1 50); do
            new=$(tail -n "+$(($1 + 1))" "$PF/maillog")
            [ "$(grep -c ': connect from ' <<<"$new")" -le "$(grep -c ': disconnect from ' <<<"$new")" ] && break
            sleep 0.1
        done
        printf '%s\n' "$new"
    }

    pf_log_at=$(wc -l <"$PF/maillog")
    run_mxwatch postfix "$EXPECT_PF" --ca-file "$LAB_ROOT" --probe-relay
    # Every Postfix address was probed (each is an exchange of some domain).
    pf_log=$(pf_log_since "$pf_log_at")
    missed=()
    for addr in "${PF_ADDRS[@]}"; do
        grep -q "postfix/$addr/smtpd\[[0-9]*\]: connect from" <<<"$pf_log" || missed+=("$addr")
    done
    if [ "${#missed[@]}" -eq 0 ]; then
        total_pass=$((total_pass + 1))
        echo "ok postfix: mxwatch connected to all ${#PF_ADDRS[@]} Postfix addresses"
    else
        total_fail=$((total_fail + 1))
        echo "FAIL postfix: mxwatch never connected to ${missed[*]}"
    fi

    # Without --ca-file the lab CA is unknown; without --probe-relay no RCPT.
    pf_log_at=$(wc -l <"$PF/maillog")
    run_mxwatch postfix-no-ca "$EXPECT_PF_NOCA"
    rcpt=$(pf_log_since "$pf_log_at" | grep -E 'disconnect from .* rcpt=' | head -n 3) || true
    if [ -z "$rcpt" ]; then
        total_pass=$((total_pass + 1))
        echo "ok postfix: no RCPT TO without --probe-relay"
    else
        total_fail=$((total_fail + 1))
        echo "FAIL postfix: RCPT TO sent without --probe-relay:"
        sed 's/^/    | /' <<<"$rcpt"
    fi

    # DANE against Postfix, and the DNSSEC proofs mxwatch recorded (tests/peers/dnssec.sh).
    dnssec_mxwatch_runs

    # mxwatch never sent DATA, and nothing was queued.
    pf_before=$pf_fail
    pf_nothing_queued "after the mxwatch runs"
    if [ "$pf_fail" -eq "$pf_before" ]; then
        total_pass=$((total_pass + 1))
    else
        total_fail=$((total_fail + 1))
    fi
fi

. "$HERE/mta-sts.sh" # 2b. MTA-STS: a Python/OpenSSL policy server on 127.44.0.x:443, mxwatch held to expectations-mta-sts.txt
. "$HERE/zone-repo.sh" # 2c. a zone repository's CI: check --zone (SARIF lines), then the proposals published by knotc and seen by watch
. "$HERE/rdap.sh"    # 2d. RDAP: a Python/OpenSSL server (RFC 9083 examples) on 127.45.0.1:443, mxwatch held to expectations-rdap.txt

# run_scenario NAME VAR=VALUE...: tests/peers/NAME.sh on the peers (with those variables in its
# environment); its "PASSED FAILED" counts join ours.
run_scenario() {
    local name=$1 rc=0 p f
    shift
    env "$@" bash "$HERE/$name.sh" "$WORK" "$WORK/$name.counts" || rc=$?
    if [ -s "$WORK/$name.counts" ]; then
        read -r p f <"$WORK/$name.counts"
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
    else
        total_fail=$((total_fail + 1))
        echo "FAIL $name: tests/peers/$name.sh ended (exit $rc) without its counts"
    fi
}

# 3. `mxwatch watch` against a live zone edit (tests/peers/watch.sh; it skips itself while the
# binary has no watch command).
run_scenario watch MXWATCH="$MXWATCH" RES_ADDR="$RES_ADDR" AUTH_ADDR="$AUTH_ADDR" UNBOUND_PID="$unbound_pid"

# 4. `mxwatch worker`s sharing a queued scan on PostgreSQL: one SIGKILLed, the database stopped
# mid-job (tests/peers/workers.sh; its own cluster).
run_scenario workers MXWATCH="$MXWATCH" RES_ADDR="$RES_ADDR"

# 5. `mxwatch serve --demo` (its own in-process lab, loopback only) against promtool, Chromium
# over WebDriver and schemathesis (tests/peers/serve.sh).
run_scenario serve MXWATCH="$MXWATCH" RES_ADDR="$RES_ADDR"

status_ok=1
echo "peers: $total_pass passed, $total_fail failed"
say "done in ${SECONDS} s after the install"
[ "$total_fail" -eq 0 ] || exit 1
exit 0
