#!/usr/bin/env bash
# Real-peers scenario for `mxwatch watch`, run by tests/peers/run.sh after its
# `mxwatch check` runs, while Knot (127.53.0.1) and Unbound (127.53.0.2) are
# up. Also runs by hand against peers left up by `run.sh --keep`:
#
#   bash tests/peers/watch.sh WORK-DIR [COUNTS-FILE]
#
# WORK-DIR is run.sh's work directory (knot.conf, unbound.conf and
# unbound/unbound.pid are read from it; this script works in WORK-DIR/watch).
# COUNTS-FILE gets "PASSED FAILED" at the end (run.sh adds them to its
# summary); every check prints one "ok watch: ..." or "FAIL watch: ..." line.
# Environment: MXWATCH (default target/debug/mxwatch), RES_ADDR, AUTH_ADDR,
# UNBOUND_PID (default: Unbound's pid file in WORK-DIR).
#
# The scenario, all on loopback:
#  1. a webhook receiver (tests/peers/hook-receiver.py) on 127.0.0.1, which
#     checks the HMAC signature and answers 500 to its first request;
#  2. `mxwatch watch` (every 2s, confirm_after 1s, DNS only) on healthy.test
#     and customer1.test, until both have a baseline;
#  3. healthy.test edited live in Knot (a knotc transaction, in memory only:
#     the repository's zone file is never written) MX 20 mx2.healthy.test. ->
#     MX 30 mx1.provider.test. (Knot bumps the serial), then unbound-control
#     flush_zone healthy.test (the MX TTL is an hour);
#  4. one alert holding the mx-added and the mx-removed change, signed, delivered (2xx)
#     once; the first (500) retried; nothing for customer1.test;
#  5. Unbound frozen with SIGSTOP (a hung resolver: queries time out) for at
#     least 4 watch cycles: no new alert at all; then SIGCONT;
#  6. the edit reverted (and flushed): each change "resolved", said once;
#  7. SIGTERM: watch exits 0 within 10 s; `mxwatch changes` shows both
#     changes resolved.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${1:?usage: watch.sh WORK-DIR [COUNTS-FILE]}
COUNTS=${2:-}
MXWATCH=${MXWATCH:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mxwatch}
RES_ADDR=${RES_ADDR:-127.53.0.2}
AUTH_ADDR=${AUTH_ADDR:-127.53.0.1}
ZONE=healthy.test
OTHER=customer1.test
SECRET=s3cret
WSTART=$SECONDS

SCENARIO=watch
# shellcheck source=tests/peers/scenario.sh
source "$HERE/scenario.sh"

if ! "$MXWATCH" watch --help >/dev/null 2>&1; then
    echo "peers: mxwatch has no watch command yet; skipping the watch scenario" >&2
    write_counts
    exit 0
fi

KNOTC=(knotc -c "$WORK/knot.conf" -t 10)
UCTL=(unbound-control -c "$WORK/unbound.conf")
D="$WORK/watch"
DB="$D/mxwatch.db"
CONF="$D/mxwatch.toml"
HOOKLOG="$D/hook.jsonl"
WLOG="$D/watch.log"
rm -rf "$D"
mkdir -p "$D"

unbound_pid=${UNBOUND_PID:-$(cat "$WORK/unbound/unbound.pid" 2>/dev/null || true)}
if [ -z "$unbound_pid" ] || [ "$(cat "/proc/$unbound_pid/comm" 2>/dev/null)" != unbound ]; then
    check fail "no running Unbound (pid '${unbound_pid}'): cannot run the watch scenario"
    write_counts
    exit 0
fi

hook_pid=""
watch_pid=""
unbound_stopped=0
zone_edited=0

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
    local rc=$? _
    trap - EXIT INT TERM
    if [ "$unbound_stopped" -eq 1 ]; then kill -CONT "$unbound_pid" 2>/dev/null || true; fi
    if [ -n "$watch_pid" ] && kill -0 "$watch_pid" 2>/dev/null; then
        kill -TERM "$watch_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            exited "$watch_pid" && break
            sleep 0.1
        done
        kill -KILL "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
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
    if [ "$finished" -eq 0 ]; then
        check fail "the scenario stopped early (exit $rc); watch's log, last lines:" "$(tail -n 30 "$WLOG" 2>/dev/null)"
    fi
    write_counts
    [ "$failed" -eq 0 ]
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dig_at() { kdig "@$1" -p 53 +timeout=2 +retry=0 "$2" "$3" 2>&1 || true; }
mx_of() { # server: the MX set of $ZONE, sorted, on one line
    local extra=()
    [ "$1" = "$AUTH_ADDR" ] && extra=(+norec)
    kdig "@$1" -p 53 +timeout=2 +retry=0 "${extra[@]}" +short "$ZONE" MX 2>/dev/null | sort | paste -sd ' ' -
}

# zone_edit "OLD-MX" "NEW-MX": one Knot transaction on $ZONE (Knot raises
# the SOA serial by itself at the commit). In memory only: the zone's
# storage is the repository and zonefile-sync is -1, so nothing is written.
# shellcheck disable=SC2086  # $1 and $2 are split into preference and exchange on purpose
zone_edit() { knot_mx_swap "$WORK/knot.conf" "$ZONE" "$1" "$2"; }

# mx history DOMAIN | mx changes: the JSON, or nothing.
history_json() { "$MXWATCH" history "$1" --db "$DB" --format json 2>/dev/null || true; }

# The receiver's log and watch's history, read by one Python helper:
#   hook.py seen-change             0 once both changes came (whatever the reply)
#   hook.py dump                    the last requests, one line each
#   hook.py ready-change            0 once both changes are delivered and the first (500) one retried
#   hook.py ready-resolved IDS      0 once a "resolved" for each id is delivered
#   hook.py count                   the number of requests so far
#   hook.py check-change            checks of step 4 (ok/FAIL lines); prints "ids ADDED REMOVED" last
#   hook.py check-quiet N           no new alert after request N
#   hook.py check-resolved N IDS    checks of step 6
#   hook.py check-all               signatures, one 2xx per change and event, nothing for $OTHER
#   hook.py baseline HISTORY-JSON   0 if an observation is a baseline
#   hook.py after HISTORY-JSON T    how many observations started after unix time T, and their statuses
#   hook.py change CHANGES-JSON ID  one line on change ID of `mxwatch changes`
cat >"$D/hook.py" <<'PY'
import json
import sys

ZONE, OTHER = "healthy.test", "customer1.test"
log_path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]


def requests():
    out = []
    try:
        with open(log_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    except OSError:
        pass
    return out


def records():
    """One record per change inside each request: mxwatch sends one alert per domain per
    confirmed cycle, holding every change of the set (and one "resolved" alert likewise).
    Each record keeps its request's seq, status and signature, and the alert's event,
    domain and summary beside the change's own fields."""
    out = []
    for r in requests():
        j = r.get("json")
        changes = j.get("changes") if isinstance(j, dict) else None
        if not isinstance(changes, list) or not changes:
            out.append(r)
            continue
        for c in changes:
            change = dict(c)
            for field in ("event", "domain", "summary", "mx_before", "mx_after"):
                change[field] = j.get(field)
            out.append(dict(r, json=change, alert=j.get("id")))
    return out


def ev(r):
    j = r.get("json")
    return j if isinstance(j, dict) else {}


def key(r):
    j = ev(r)
    return (j.get("id"), j.get("event"))


def ok2xx(r):
    return 200 <= r["status"] < 300


def short(r):
    j = ev(r)
    return (f"#{r['seq']} HTTP {r['status']} sig_ok={r['sig_ok']} {j.get('event')} id={j.get('id')} "
            f"{j.get('domain')} {j.get('kind')} {j.get('subject')} old={j.get('old')!r} new={j.get('new')!r}")


def result(good, text, details=()):
    print(("ok watch: " if good else "FAIL watch: ") + text)
    if not good:
        for d in list(details)[:20]:
            print("    | " + str(d))


def changes_of(rs, kind, subject):
    return sorted({ev(r).get("id") for r in rs
                   if ev(r).get("event") == "change" and ev(r).get("domain") == ZONE
                   and ev(r).get("kind") == kind and ev(r).get("subject") == subject})


def delivered(rs, cid, event):
    return [r for r in rs if key(r) == (cid, event) and ok2xx(r)]


rs = records()
if cmd == "count":
    print(len(rs))
elif cmd == "ready-change":
    added = changes_of(rs, "mx-added", "mx1.provider.test")
    removed = changes_of(rs, "mx-removed", "mx2.healthy.test")
    ready = bool(added) and bool(removed) and all(delivered(rs, i, "change") for i in added + removed)
    ready = ready and bool(delivered(rs, *key(rs[0])))  # the first request (a 500) was retried
    sys.exit(0 if ready else 1)
elif cmd == "seen-change":
    sys.exit(0 if changes_of(rs, "mx-added", "mx1.provider.test")
             and changes_of(rs, "mx-removed", "mx2.healthy.test") else 1)
elif cmd == "dump":
    print(f"{len(rs)} requests")
    for r in rs[-15:]:
        print(short(r))
elif cmd == "ready-resolved":
    ids = [int(i) for i in args]
    sys.exit(0 if all(delivered(rs, i, "resolved") for i in ids) else 1)
elif cmd == "check-change" and not rs:
    result(False, "the receiver got no request at all")
elif cmd == "check-change":
    added = changes_of(rs, "mx-added", "mx1.provider.test")
    removed = changes_of(rs, "mx-removed", "mx2.healthy.test")
    for kind, subject, ids, field, want in (("mx-added", "mx1.provider.test", added, "new", "30"),
                                            ("mx-removed", "mx2.healthy.test", removed, "old", "20")):
        mine = [r for r in rs if ev(r).get("id") in ids and ev(r).get("event") == "change"]
        result(len(ids) == 1, f"exactly one {kind} change for {subject} (change ids: {ids})", map(short, mine))
        if len(ids) != 1:
            continue
        got = [r for r in mine if ok2xx(r)]
        result(len(got) == 1, f"{kind} {subject}: delivered (2xx) exactly once ({len(got)} times)", map(short, mine))
        j = ev(got[0]) if got else ev(mine[0])
        result(j.get(field) == want, f"{kind} {subject}: {field} is {want!r} (got {j.get(field)!r})", [j])
        sev = j.get("severity")
        result(sev in ("info", "low", "medium", "high", "critical") and isinstance(j.get("summary"), str)
               and bool(j.get("first_seen")) and bool(j.get("confirmed_at")),
               f"{kind} {subject}: severity ({sev}), summary, first_seen, confirmed_at are there", [j])
    bad = [r for r in rs if not r["sig_ok"]]
    result(not bad, f"all {len(rs)} requests so far carry a valid X-Mxwatch-Signature", map(short, bad))
    first = rs[0]
    later = [r for r in rs[1:] if key(r) == key(first) and ok2xx(r)]
    result(first["status"] == 500 and len(later) == 1,
           f"the first request (HTTP {first['status']}: {ev(first).get('kind')} id {ev(first).get('id')}) "
           f"came again and was delivered once ({len(later)} 2xx)", [short(r) for r in rs if key(r) == key(first)])
    other = [r for r in rs if ev(r).get("domain") != ZONE]
    result(not other, f"no alert for anything but {ZONE} ({OTHER} is unchanged)", map(short, other))
    # One alert for the change set: the same request carried both MX changes and said
    # the MX set before -> after on one line.
    both = [r for r in rs if ev(r).get("id") in added and ok2xx(r)
            and any(ev(o).get("id") in removed for o in rs if o["seq"] == r["seq"])]
    line = ev(both[0]).get("summary", "") if both else ""
    result(len(both) == 1 and "\u2192" in line and "mx1.provider.test" in line,
           f"one alert holds the whole change set, MX before \u2192 after in its summary ({line!r})",
           map(short, rs))
    extra = sorted({(ev(r).get("kind"), ev(r).get("subject")) for r in rs
                    if ev(r).get("domain") == ZONE and ev(r).get("id") not in added + removed})
    if extra:
        print("    (also alerted for " + ZONE + ": " + ", ".join(f"{k} {s}" for k, s in extra) + ")")
    print(f"ids {added[0] if len(added) == 1 else 0} {removed[0] if len(removed) == 1 else 0}")
elif cmd == "check-quiet":
    n = int(args[0])
    before = {key(r) for r in rs[:n]}
    new = [r for r in rs[n:] if key(r) not in before]
    gone = [r for r in new if ev(r).get("kind") in ("mx-removed", "mx-set-gone")]
    result(not gone, "no mx-removed or mx-set-gone while the resolver hangs", map(short, gone))
    result(not new, f"no new alert at all while the resolver hangs ({len(new)} new)", map(short, new))
elif cmd == "check-resolved":
    n, ids = int(args[0]), [int(i) for i in args[1:]]
    for cid in ids:
        mine = [r for r in rs if key(r) == (cid, "resolved")]
        got = [r for r in mine if ok2xx(r)]
        first = next((ev(r) for r in rs if key(r) == (cid, "change")), {})
        j = ev(got[0]) if got else {}
        same = all(j.get(f) == first.get(f) for f in ("domain", "kind", "subject"))
        result(len(got) == 1 and same,
               f"one \"resolved\" for change {cid} ({first.get('kind')} {first.get('subject')}): "
               f"{len(got)} delivered", map(short, mine))
    again = [r for r in rs[n:] if ev(r).get("event") == "change"
             and ev(r).get("kind") in ("mx-added", "mx-removed", "mx-preference-changed", "mx-set-gone")]
    result(not again, "the revert is no new MX change, only resolutions", map(short, again))
elif cmd == "check-all":
    bad = [r for r in rs if not r["sig_ok"] or r["method"] != "POST" or r["path"] != "/hook" or r["error"]]
    result(not bad, f"all {len(rs)} requests: POST /hook, JSON, valid signature", map(short, bad))
    seen = {}
    for r in rs:
        if ok2xx(r):
            seen.setdefault(key(r), []).append(r)
    dup = [short(r) for rs2 in seen.values() if len(rs2) > 1 for r in rs2]
    result(not dup, f"each (change id, event) delivered with 2xx at most once ({len(seen)} deliveries)", dup)
    other = [r for r in rs if ev(r).get("domain") != ZONE]
    result(not other, f"nothing ever alerted for {OTHER}", map(short, other))
elif cmd == "baseline":
    try:
        h = json.loads(args[0])
        sys.exit(0 if any(o.get("baseline") for o in h.get("observations", [])) else 1)
    except (ValueError, AttributeError):
        sys.exit(1)
elif cmd == "after":
    try:
        obs = json.loads(args[0]).get("observations", [])
    except (ValueError, AttributeError):
        obs = []
    new = sorted((o for o in obs if o.get("observed_at", 0) > int(args[1])), key=lambda o: o.get("id", 0))
    print(len(new), " ".join(f"{o.get('status')}{'(baseline)' if o.get('baseline') else ''}" for o in new))
elif cmd == "change":
    try:
        cs = json.loads(args[0])
        c = next((c for c in cs if c.get("id") == int(args[1])), None)
    except (ValueError, AttributeError, TypeError) as e:
        print(f"unreadable: {e}")
        sys.exit(1)
    if c is None:
        print("missing")
        sys.exit(1)
    print(" ".join(str(c.get(f)) for f in ("domain", "kind", "subject")) + f" resolved_at={c.get('resolved_at')}")
    sys.exit(0 if c.get("resolved_at") is not None else 1)
else:
    sys.exit(f"hook.py: unknown command {cmd}")
PY
hook() { python3 "$D/hook.py" "$HOOKLOG" "$@"; }
# Runs a check-* command of hook.py and counts its ok/FAIL lines; prints the rest.
hook_check() {
    local out line rc=0
    out=$(hook "$@") || rc=$?
    [ "$rc" -eq 0 ] || check fail "hook.py $1 exited $rc"
    while IFS= read -r line; do
        case "$line" in
            "ok watch: "*) passed=$((passed + 1)); echo "$line" ;;
            "FAIL watch: "*) failed=$((failed + 1)); echo "$line" ;;
            "ids "*) HOOK_IDS=${line#ids } ;;
            *) show <<<"$line" ;;
        esac
    done <<<"$out"
}

# ------------------------------------------------------------ 1. receiver --
python3 "$HERE/hook-receiver.py" --secret "$SECRET" --log "$HOOKLOG" --port-file "$D/hook.port" \
    --fail-first 1 --max-seconds 300 2>"$D/hook.stderr" &
hook_pid=$!
if poll 10 test -s "$D/hook.port"; then
    port=$(cat "$D/hook.port")
    check ok "webhook receiver listening on 127.0.0.1:$port"
else
    check fail "the webhook receiver did not start" "$(cat "$D/hook.stderr")"
    finished=1
    exit 0
fi

# --------------------------------------------------------------- 2. watch --
watch_config "$CONF" "$DB" 1s "$port"

# Both lab names as Unbound serves them now (the check runs are over).
before=$(mx_of "$RES_ADDR")
if [ "$before" = "10 mx1.healthy.test. 20 mx2.healthy.test." ]; then
    check ok "$ZONE MX before the edit: $before"
else
    check fail "$ZONE MX before the edit: want 10 mx1.healthy.test. 20 mx2.healthy.test., got '$before'"
fi

say "starting: $MXWATCH watch --config $CONF"
MXWATCH_LOG=${MXWATCH_LOG:-info} "$MXWATCH" watch --config "$CONF" >"$WLOG" 2>&1 </dev/null &
watch_pid=$!
t0=$SECONDS
have_baselines() {
    exited "$watch_pid" && return 1
    hook baseline "$(history_json "$ZONE")" && hook baseline "$(history_json "$OTHER")"
}
if poll 20 have_baselines; then
    check ok "both domains have a baseline observation ($((SECONDS - t0)) s after the start)"
else
    if exited "$watch_pid"; then
        check fail "mxwatch watch exited early; its log:" "$(tail -n 30 "$WLOG")"
    else
        check fail "no baseline for both domains within 20 s; history:" "$(history_json "$ZONE"; history_json "$OTHER")"
    fi
    finished=1
    exit 0
fi

# ---------------------------------------------------------- 3. the edit --
t0=$SECONDS
if out=$(zone_edit "20 mx2.healthy.test." "30 mx1.provider.test." 2>&1); then
    zone_edited=1
    check ok "Knot: $ZONE edited (knotc transaction)"
else
    check fail "knotc could not edit $ZONE" "$out"
    finished=1
    exit 0
fi
want_new="10 mx1.healthy.test. 30 mx1.provider.test."
got=$(mx_of "$AUTH_ADDR")
if [ "$got" = "$want_new" ]; then check ok "Knot serves $ZONE MX $got"; else check fail "Knot serves $ZONE MX '$got', want $want_new"; fi
if out=$("${UCTL[@]}" flush_zone "$ZONE" 2>&1); then
    check ok "unbound-control flush_zone $ZONE: $out"
else
    check fail "unbound-control flush_zone $ZONE" "$out"
fi
got=$(mx_of "$RES_ADDR")
if [ "$got" = "$want_new" ]; then check ok "Unbound now answers $ZONE MX $got"; else check fail "Unbound answers $ZONE MX '$got', want $want_new"; fi
hl=$(dig_at "$RES_ADDR" highttl.test MX)
if grep -Eq 'highttl\.test\.[[:space:]]+60(4[0-9]{3})[[:space:]]+IN[[:space:]]+MX' <<<"$hl"; then
    check ok "highttl.test keeps its week-long TTL (only $ZONE was flushed)"
else
    check fail "highttl.test MX TTL is no longer about 604800" "$hl"
fi

# ------------------------------------------- 4. the alerts go out ... --
# Both changes reach the receiver. The first request is answered 500, and
# watch retries it only after its backoff (30 s): steps 4 and 5 overlap so
# that the retry arrives while the resolver hangs (a retry is no new alert;
# the checks of step 4 run once it is in).
t_edit=$t0
if poll 20 hook seen-change; then
    say "both changes reached the receiver $((SECONDS - t0)) s after the edit"
else
    check fail "within 20 s of the edit, the receiver did not get both changes; its requests:" "$(hook dump)"
fi

# ------------------------------------------------- 5. a hung resolver --
# SIGSTOP, not a kill: Unbound keeps its sockets, so queries are neither
# refused nor answered: they time out, as with a hung or unreachable resolver.
n_before=$(hook count)
kill -STOP "$unbound_pid"
unbound_stopped=1
t_stop=$(date +%s)
t0=$SECONDS
say "Unbound (pid $unbound_pid) stopped with SIGSTOP"
# 4 observations of each domain that started after the stop (observed_at is
# the start of a cycle, in whole seconds).
cycles_done() {
    local z o
    read -r z _ <<<"$(hook after "$(history_json "$ZONE")" "$t_stop")"
    read -r o _ <<<"$(hook after "$(history_json "$OTHER")" "$t_stop")"
    [ "$z" -ge 4 ] && [ "$o" -ge 4 ]
}
# A cycle against a hung resolver lasts as long as watch's lookups take to
# time out (about 14 s a cycle with the fixed 3 s DNS timeout): allow 90 s.
if poll 90 cycles_done; then
    check ok "watch went on observing while the resolver hung: 4 cycles of each domain in $((SECONDS - t0)) s"
else
    check fail "fewer than 4 cycles of each domain recorded in 90 s with the resolver hung" \
        "$(history_json "$ZONE" | head -n 40)"
fi
read -r _ statuses <<<"$(hook after "$(history_json "$ZONE")" "$t_stop")"
say "$ZONE observations while Unbound was stopped: ${statuses:-none}"
hook_check check-quiet "$n_before"
kill -CONT "$unbound_pid"
unbound_stopped=0
if poll 10 bash -c "kdig @$RES_ADDR -p 53 +timeout=1 +retry=0 $ZONE SOA 2>/dev/null | grep -q 'status: NOERROR'"; then
    check ok "Unbound answers again after SIGCONT"
else
    check fail "Unbound does not answer after SIGCONT"
fi

# ---------------------------------------------- 4. ... each one once --
left=$((t_edit + 100 - SECONDS))
if poll "$((left > 5 ? left : 5))" hook ready-change; then
    say "both changes delivered, the first request retried: $((SECONDS - t_edit)) s after the edit"
else
    check fail "within 100 s of the edit: no 2xx delivery of both changes and of the retried first request; requests:" "$(hook dump)"
fi
HOOK_IDS="0 0"
hook_check check-change
read -r added_id removed_id <<<"$HOOK_IDS"

# ------------------------------------------------------- 6. the revert --
t0=$SECONDS
t_revert=$(date +%s)
n_before=$(hook count)
if out=$(zone_edit "30 mx1.provider.test." "20 mx2.healthy.test." 2>&1); then
    zone_edited=0
    check ok "Knot: $ZONE put back"
else
    check fail "knotc could not put $ZONE back" "$out"
fi
"${UCTL[@]}" flush_zone "$ZONE" >/dev/null 2>&1 || check fail "unbound-control flush_zone $ZONE (after the revert)"
got=$(mx_of "$RES_ADDR")
if [ "$got" = "10 mx1.healthy.test. 20 mx2.healthy.test." ]; then
    check ok "Unbound answers $ZONE MX $got again"
else
    check fail "Unbound answers $ZONE MX '$got' after the revert"
fi
ids=()
for i in $added_id $removed_id; do [ "$i" != 0 ] && ids+=("$i"); done
if [ "${#ids[@]}" -gt 0 ]; then
    if poll 30 hook ready-resolved "${ids[@]}"; then
        say "resolved alerts delivered $((SECONDS - t0)) s after the revert"
    else
        say "no \"resolved\" for both within 30 s of the revert; $ZONE observations since (status, baseline):"
        hook after "$(history_json "$ZONE")" "$t_revert" >&2 || true
        hook dump >&2 || true
    fi
    hook_check check-resolved "$n_before" "${ids[@]}"
else
    check fail "no change ids from step 4: cannot wait for their \"resolved\" alerts"
fi

# ---------------------------------------------------------- 7. shutdown --
t0=$SECONDS
kill -TERM "$watch_pid"
if poll 10 exited "$watch_pid"; then
    rc=0
    wait "$watch_pid" || rc=$?
    watch_pid=""
    if [ "$rc" -eq 0 ]; then
        check ok "watch exited 0 on SIGTERM ($((SECONDS - t0)) s)"
    else
        check fail "watch exited $rc on SIGTERM (want 0); its log:" "$(tail -n 20 "$WLOG")"
    fi
else
    check fail "watch still running 10 s after SIGTERM"
fi
changes=$("$MXWATCH" changes --since 1h --db "$DB" --format json 2>"$D/changes.stderr") || true
for i in "${ids[@]}"; do
    if r=$(hook change "$changes" "$i"); then
        check ok "mxwatch changes: change $i: $r"
    else
        check fail "mxwatch changes: change $i is not resolved: $r" "$changes$(cat "$D/changes.stderr")"
    fi
done
hook_check check-all

finished=1
say "the watch scenario took $((SECONDS - WSTART)) s: $passed ok, $failed FAIL"
