# shellcheck shell=bash
# MTA-STS against real peers: sourced by tests/peers/run.sh (one line), after
# Knot, Unbound and Postfix are up and the lab CA exists. It uses run.sh's
# helpers and state: leaf, ossl, say, die, run_mxwatch, total_pass,
# total_fail, knot_extra (the pids run.sh's trap stops), HERE, WORK, PF,
# LAB_ROOT.
#
# A Python http.server + ssl (OpenSSL) policy server listens on
# 127.44.0.x:443, one address per mta-sts.<domain> of the sts-*.test zones
# (served by Knot, resolved through Unbound), with certificates from the
# peers' openssl CA (one for the wrong name, one expired). The MX hosts of
# the sts-*.test domains are Postfix's (mx1/mx2.smtp-ok.test good,
# mx1.smtp-wrongname.test with a certificate for another name). Then
# `mxwatch check --ca-file <lab root> --https-timeout 3` is held to
# tests/peers/expectations-mta-sts.txt.

STS_PORT=443
STS_DIR="$WORK/mta-sts"
STS_EXPECT="$HERE/expectations-mta-sts.txt"
mkdir -p "$STS_DIR"
[ -f "$STS_EXPECT" ] || die "no expectations file $STS_EXPECT"

# address  behaviour  certificate name (or "-")  [openssl ca validity options]
sts_plan() {
    cat <<'EOF'
127.44.0.1  policy:enforce  mta-sts.sts-ok.test
127.44.0.2  policy:enforce  mta-sts.sts-txt.test
127.44.0.3  policy:testing  mta-sts.sts-testing.test
127.44.0.4  policy:none     mta-sts.sts-none.test
127.44.0.5  policy:syntax   mta-sts.sts-syntax.test
127.44.0.6  policy:mismatch mta-sts.sts-mismatch.test
127.44.0.7  policy:badcert  mta-sts.sts-badcert.test
127.44.0.8  404             mta-sts.sts-404.test
127.44.0.9  redirect        mta-sts.sts-redirect.test
127.44.0.10 html            mta-sts.sts-ctype.test
127.44.0.11 big             mta-sts.sts-big.test
127.44.0.12 silent          -
127.44.0.13 policy:enforce  wrong.example.net
127.44.0.14 policy:enforce  mta-sts.sts-expired.test
127.44.0.15 policy:enforce  mta-sts.sts-twotxt.test
EOF
}

# The zones must agree with the plan: each mta-sts.<domain> at its address.
while read -r addr _ _; do
    zone=$(grep -l -E "^mta-sts[[:space:]]+IN[[:space:]]+A[[:space:]]+$addr\$" "$ZONEDIR"/sts-*.test.zone | head -n 1) ||
        true
    [ -n "$zone" ] || die "no sts-*.test zone puts mta-sts at $addr"
done < <(sts_plan)

# Port 443 must be free on every address.
mapfile -t sts_addrs < <(sts_plan | awk '{ print $1 }')
if ! python3 - "$STS_PORT" "${sts_addrs[@]}" <<'PY'; then
import socket, sys
port, bad = int(sys.argv[1]), False
for addr in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        s.listen(1)
    except OSError as e:
        print(f"peers: {addr}:{port}/tcp is taken: {e}", file=sys.stderr)
        bad = True
    finally:
        s.close()
sys.exit(1 if bad else 0)
PY
    die "port $STS_PORT on the MTA-STS lab addresses (127.44.0.x) is not free"
fi

# Certificates from the peers' lab CA (the intermediate signs them; the
# server sends key + leaf + intermediate, as Postfix's files are made).
(
    umask 077
    : >"$STS_DIR/plan"
    while read -r addr behaviour name; do
        case "$addr" in
            127.44.0.12) cert=- ;;
            127.44.0.14)
                leaf "$name" "$name" "$PF/ca/server.key" -startdate 20200101000000Z -enddate 20200401000000Z
                cert="$PF/tls/$name.pem"
                ;;
            127.44.0.13)
                leaf sts-wrongname "$name" "$PF/ca/server.key" -days 365
                cert="$PF/tls/sts-wrongname.pem"
                ;;
            *)
                leaf "$name" "$name" "$PF/ca/server.key" -days 365
                cert="$PF/tls/$name.pem"
                ;;
        esac
        echo "$addr $behaviour $cert" >>"$STS_DIR/plan"
    done < <(sts_plan)
) || exit 1

python3 "$HERE/mta-sts-server.py" "$STS_PORT" "$STS_DIR/plan" >"$STS_DIR/server.log" 2>&1 </dev/null &
sts_pid=$!
# run.sh's EXIT trap stops every pid in knot_extra: the policy server goes with the peers.
knot_extra="$knot_extra $sts_pid"
say "started the MTA-STS policy server (pid $sts_pid) on ${#sts_addrs[@]} addresses 127.44.0.x:$STS_PORT"

# Ready when every address accepts TCP (bounded).
if ! python3 - "$sts_pid" 20 "$STS_PORT" "${sts_addrs[@]}" <<'PY'; then
import os, socket, sys, time
pid, limit, port, addrs = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
deadline = time.monotonic() + limit
pending = list(addrs)
while pending:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("peers: the MTA-STS policy server exited early")
    still = []
    for addr in pending:
        try:
            socket.create_connection((addr, port), timeout=1).close()
        except OSError:
            still.append(addr)
    pending = still
    if pending and time.monotonic() > deadline:
        sys.exit(f"peers: the MTA-STS policy server does not listen on {' '.join(pending)}")
    time.sleep(0.1)
PY
    tail -n 20 "$STS_DIR/server.log" >&2 || true
    die "the MTA-STS policy server did not come up"
fi

# The peer itself, checked with OpenSSL's client (not mxwatch): the good host
# verifies against the lab root for its name and serves the policy; the
# wrong-name and expired hosts do not verify.
sts_fetch() { # address name -> "verify-code http-status content-type"
    python3 - "$1" "$2" "$STS_PORT" "$LAB_ROOT" <<'PY'
import socket, ssl, sys
addr, name, port, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=root)
try:
    with socket.create_connection((addr, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while len(data) < 65536:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    ctype = next((h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("content-type:")), "-")
    print("ok", head[0].split()[1], ctype.split(";")[0])
except ssl.SSLCertVerificationError as e:
    print("verify-failed", e.verify_code, "-")
except OSError as e:
    print("error", type(e).__name__, "-")
PY
}
sts_expect() { # description want got
    if [ "$2" = "$3" ]; then
        total_pass=$((total_pass + 1))
        echo "ok mta-sts peer: $1: $3"
    else
        total_fail=$((total_fail + 1))
        echo "FAIL mta-sts peer: $1: want $2, got $3"
    fi
}
sts_expect "mta-sts.sts-ok.test serves its policy" "ok 200 text/plain" \
    "$(sts_fetch 127.44.0.1 mta-sts.sts-ok.test)"
sts_expect "mta-sts.sts-ctype.test serves HTML" "ok 200 text/html" \
    "$(sts_fetch 127.44.0.10 mta-sts.sts-ctype.test)"
# OpenSSL verify codes: 62 host name mismatch, 10 expired.
sts_expect "mta-sts.sts-wrongname.test has a certificate for another name" "verify-failed 62 -" \
    "$(sts_fetch 127.44.0.13 mta-sts.sts-wrongname.test)"
sts_expect "mta-sts.sts-expired.test has an expired certificate" "verify-failed 10 -" \
    "$(sts_fetch 127.44.0.14 mta-sts.sts-expired.test)"

# mxwatch against the real peers.
run_mxwatch mta-sts "$STS_EXPECT" --ca-file "$LAB_ROOT" --https-timeout 3 --smtp-timeout 10
