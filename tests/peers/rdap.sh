# shellcheck shell=bash
# Registration over RDAP against real peers: sourced by tests/peers/run.sh (one
# line), after Knot, Unbound and the lab CA are up. It uses run.sh's helpers and
# state: leaf, say, die, run_mxwatch, total_pass, total_fail, knot_extra (the
# pids run.sh's trap stops), HERE, WORK, PF, LAB_ROOT.
#
# tests/peers/rdap-server.py (Python http.server + ssl, JSON built from RFC
# 9083's examples, independent of the in-process lab's Rust server) listens on
# 127.45.0.1:443 as rdap.lab.test (lab.test.zone, served by Knot, resolved
# through Unbound), with a certificate from the peers' openssl CA. Then
# `mxwatch check --rdap-server https://rdap.lab.test/ --ca-file <lab root>` is
# held to tests/peers/expectations-rdap.txt, and the server's log to one
# question per registrable domain.

RDAP_ADDR=127.45.0.1
RDAP_PORT=443
RDAP_DIR="$WORK/rdap"
RDAP_EXPECT="$HERE/expectations-rdap.txt"
mkdir -p "$RDAP_DIR"
[ -f "$RDAP_EXPECT" ] || die "no expectations file $RDAP_EXPECT"
grep -q -E "^rdap[[:space:]]+IN[[:space:]]+A[[:space:]]+$RDAP_ADDR\$" "$ZONEDIR/lab.test.zone" ||
    die "lab.test.zone does not put rdap.lab.test at $RDAP_ADDR"

if ! python3 - "$RDAP_ADDR" "$RDAP_PORT" <<'PY'; then
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError as e:
    sys.exit(f"peers: {sys.argv[1]}:{sys.argv[2]}/tcp is taken: {e}")
PY
    die "port $RDAP_PORT on $RDAP_ADDR is not free"
fi

(umask 077 && leaf rdap.lab.test rdap.lab.test "$PF/ca/server.key" -days 365) || exit 1
python3 "$HERE/rdap-server.py" "$RDAP_ADDR" "$RDAP_PORT" "$PF/tls/rdap.lab.test.pem" \
    >"$RDAP_DIR/server.out" 2>"$RDAP_DIR/server.log" </dev/null &
rdap_pid=$!
knot_extra="$knot_extra $rdap_pid"
say "started the RDAP server (pid $rdap_pid) on $RDAP_ADDR:$RDAP_PORT"

# Ready when it accepts TCP (bounded), then checked with OpenSSL's client
# (not mxwatch): the certificate verifies for rdap.lab.test and a domain
# object comes back.
rdap_probe=$(python3 - "$rdap_pid" "$RDAP_ADDR" "$RDAP_PORT" "$LAB_ROOT" <<'PY'
import json, os, socket, ssl, sys, time
pid, addr, port, root = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 20
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the RDAP server exited early")
    try:
        socket.create_connection((addr, port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the RDAP server does not listen")
        time.sleep(0.1)
ctx = ssl.create_default_context(cafile=root)
with socket.create_connection((addr, port), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="rdap.lab.test") as tls:
        tls.sendall(b"GET /domain/healthy.test HTTP/1.1\r\nHost: rdap.lab.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
head, body = data.split(b"\r\n\r\n", 1)
obj = json.loads(body)
print(head.split(b"\r\n")[0].split()[1].decode(), obj["objectClassName"], obj["ldhName"])
PY
) || true
if [ "$rdap_probe" = "200 domain healthy.test" ]; then
    total_pass=$((total_pass + 1))
    echo "ok rdap peer: rdap.lab.test verifies against the lab root and answers a domain object"
else
    total_fail=$((total_fail + 1))
    echo "FAIL rdap peer: want '200 domain healthy.test', got '$rdap_probe'"
    tail -n 20 "$RDAP_DIR/server.log" >&2 || true
fi

# mxwatch against the real peers.
: >"$RDAP_DIR/server.log"
run_mxwatch rdap "$RDAP_EXPECT" --no-probe --rdap-server "https://rdap.lab.test/" --ca-file "$LAB_ROOT" \
    --rdap-timeout 2 --rdap-qps 50

# One question per registrable domain per run: provider.test holds the
# exchanges of most domains of the run, and was asked once.
asked=$(grep -c '^GET /domain/provider.test$' "$RDAP_DIR/server.log" || true)
if [ "$asked" = 1 ]; then
    total_pass=$((total_pass + 1))
    echo "ok rdap peer: provider.test asked once for the whole run"
else
    total_fail=$((total_fail + 1))
    echo "FAIL rdap peer: provider.test asked $asked times (want 1)"
fi
