# shellcheck shell=bash
# A zone repository's CI against real peers (issue 15): sourced by tests/peers/run.sh (one line),
# after mta-sts.sh, while Knot (the live zones), Unbound, Postfix and the MTA-STS policy server
# are up. It uses run.sh's helpers and state: say, die, MXWATCH, RES_ADDR, WORK, ZONEDIR, REPO,
# LAB_ROOT, MX_DNSSEC, total_pass, total_fail.
#
#  1. Proposed files, as a pull request would bring them:
#     - sts-ok.test (crates/mxwatch/tests/end_to_end/zones/sts-ok.test.proposed.zone, the file
#       the end-to-end tests use too): mx2.smtp-ok.test leaves, mx1.provider.test joins outside
#       the published MTA-STS patterns (*.smtp-ok.test, enforce), and an MX points at
#       mx.lapsed-provider.test, whose domain is not registered; the _mta-sts id stays;
#     - dane-ok.test (made here from the zone Knot serves, whose TLSA digest is made at run
#       time): a second exchange mx2 with a TLSA record joins, and mx1's TLSA record is dropped.
#  2. `mxwatch check DOMAIN --zone FILE --format sarif` reports each consequence on the line of
#     the record involved (read from the file with grep, so the file may change shape).
#  3. The proposals published in Knot (knotc transactions, in memory only: the repository's
#     files are never written; Knot re-signs), Unbound flushed; `mxwatch watch --once` before
#     and after records the same consequences as changes, with the drain time of the removed
#     exchange. Then the edits are undone.

ZR="$WORK/zone-repo"
ZR_STS="$REPO/crates/mxwatch/tests/end_to_end/zones/sts-ok.test.proposed.zone"
ZR_DANE="$ZR/dane-ok.test.proposed.zone"
ZR_KNOTC=(knotc -c "$WORK/knot.conf" -t 10)
ZR_UCTL=(unbound-control -c "$WORK/unbound.conf")
mkdir -p "$ZR"
[ -f "$ZR_STS" ] || die "no proposed zone $ZR_STS"

zr_check() { # ok|fail description [details]
    if [ "$1" = ok ]; then
        total_pass=$((total_pass + 1))
        echo "ok zone-repo: $2"
    else
        total_fail=$((total_fail + 1))
        echo "FAIL zone-repo: $2"
        if [ -n "${3:-}" ]; then sed -e 's/^/    | /' -e 's/\([0-9]\) \(failed\|passed\)/\1 (\2)/g' <<<"$3" | head -n 30; fi
    fi
}

# The line of the first line of FILE matching the extended regex.
zr_line() { grep -nE -- "$2" "$1" | head -n 1 | cut -d: -f1; }

# ---------------------------------------------------- 1. the proposals --
zr_live_dane="$WORK/zones/dane-ok.test.zone"
[ -f "$zr_live_dane" ] || zr_live_dane="$ZONEDIR/dane-ok.test.zone"
zr_digest=$(awk '$1 == "_25._tcp.mx1" && $0 ~ /TLSA/ { print $NF }' "$zr_live_dane")
{
    grep -vE '^_25\._tcp\.mx1[[:space:]]' "$zr_live_dane"
    printf '; The proposal: mx2 joins with a TLSA record; mx1 keeps its MX but its TLSA record is dropped.\n'
    printf '@\tIN\tMX\t20 mx2\n'
    printf 'mx2\tIN\tA\t127.0.2.30\n'
    printf '_25._tcp.mx2\t300\tIN\tTLSA\t3 1 1 %s\n' "$zr_digest"
} >"$ZR_DANE"

# ------------------------------------------------- 2. check --zone, SARIF --
zr_opts=(--resolver "$RES_ADDR" --lab "${MX_DNSSEC[@]}" --ca-file "$LAB_ROOT" --https-timeout 3 --smtp-timeout 10)
zr_sarif() { # domain file: SARIF on stdout; exit 0, 1 or 3 is a verdict
    local rc=0
    timeout "${PEERS_MXWATCH_TIMEOUT:-150}" "$MXWATCH" check "${zr_opts[@]}" --format sarif --zone "$2" "$1" \
        >"$ZR/$1.sarif" 2>"$ZR/$1.stderr" || rc=$?
    case "$rc" in
        0 | 1 | 3) return 0 ;;
        *)
            zr_check fail "check --zone $2 $1 exited $rc" "$(tail -n 20 "$ZR/$1.stderr")"
            return 1
            ;;
    esac
}
# zr_expect SARIF RULE SUBJECT LINE FILE-SUFFIX: a result of RULE about SUBJECT at LINE of the file.
zr_expect() {
    local out
    if out=$(python3 - "$@" <<'PY'
import json, sys
path, rule, subject, line, suffix = sys.argv[1:6]
results = json.load(open(path))["runs"][0]["results"]
lines = sorted({
    loc["physicalLocation"]["region"]["startLine"]
    for r in results
    if r["ruleId"] == rule and r["message"]["text"].startswith(subject + ":")
    for loc in r["locations"]
    if loc["physicalLocation"]["artifactLocation"]["uri"].endswith(suffix)
    and "region" in loc["physicalLocation"]
})
print(f"lines {lines}; results: " + ", ".join(sorted({r['ruleId'] + ' ' + r['message']['text'].split(':')[0] for r in results})))
sys.exit(0 if lines == [int(line)] else 1)
PY
    ); then
        zr_check ok "SARIF $2 $3 on line $4 of $(basename "$5")"
    else
        zr_check fail "SARIF $2 $3: want line $4 of $(basename "$5")" "$out"
    fi
}

if zr_sarif sts-ok.test "$ZR_STS"; then
    zr_expect "$ZR/sts-ok.test.sarif" CHANGE-MTASTS-MX-UNCOVERED mx1.provider.test \
        "$(zr_line "$ZR_STS" '^@[[:space:]]+IN[[:space:]]+MX[[:space:]]+20 mx1\.provider\.test\.')" "$ZR_STS"
    zr_expect "$ZR/sts-ok.test.sarif" MX-TARGET-UNREGISTERED mx.lapsed-provider.test \
        "$(zr_line "$ZR_STS" 'MX[[:space:]]+30 mx\.lapsed-provider\.test\.')" "$ZR_STS"
    zr_expect "$ZR/sts-ok.test.sarif" CHANGE-MTASTS-ID-STALE _mta-sts.sts-ok.test \
        "$(zr_line "$ZR_STS" '^_mta-sts[[:space:]]')" "$ZR_STS"
fi
if zr_sarif dane-ok.test "$ZR_DANE"; then
    zr_expect "$ZR/dane-ok.test.sarif" CHANGE-DANE-MX-WITHOUT-TLSA mx1.dane-ok.test \
        "$(zr_line "$ZR_DANE" '^@[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 mx1$')" "$ZR_DANE"
fi

# --------------------------------------- 3. published: watch sees it too --
zr_anchor=""
if [ "${MX_DNSSEC[0]:-}" = --trust-anchor ]; then zr_anchor=${MX_DNSSEC[1]}; fi
cat >"$ZR/mxwatch.toml" <<EOF
# Written by tests/peers/zone-repo.sh
db = "$ZR/mxwatch.db"

[defaults]
every = "1s"
jitter = 0.0
confirm_after = "1s"
resolver = "$RES_ADDR"
lab = true
ca_file = ["$LAB_ROOT"]
https_timeout = "3s"
smtp_timeout = "10s"
$(if [ -n "$zr_anchor" ]; then echo "trust_anchor = \"$zr_anchor\""; else echo "dnssec = false"; fi)

[[domain]]
name = "sts-ok.test"

[[domain]]
name = "dane-ok.test"
EOF
zr_once() { timeout "${PEERS_MXWATCH_TIMEOUT:-150}" "$MXWATCH" watch --once --config "$ZR/mxwatch.toml" >>"$ZR/watch.log" 2>&1; }
# zr_edit ZONE (unset|set) ARGS...: one knotc command inside a transaction opened by the caller.
zr_txn() { # zone commands...: each argument one knotc command line (split on spaces)
    local zone=$1 cmd
    shift
    "${ZR_KNOTC[@]}" zone-begin "$zone" >/dev/null || return 1
    for cmd in "$@"; do
        # shellcheck disable=SC2086  # each command is split into knotc's arguments on purpose
        if ! "${ZR_KNOTC[@]}" $cmd >/dev/null; then
            "${ZR_KNOTC[@]}" zone-abort "$zone" >/dev/null 2>&1 || true
            return 1
        fi
    done
    "${ZR_KNOTC[@]}" zone-commit "$zone" >/dev/null
}
ZR_STS_DO=("zone-unset sts-ok.test. @ MX 20 mx2.smtp-ok.test."
    "zone-set sts-ok.test. @ 3600 MX 20 mx1.provider.test."
    "zone-set sts-ok.test. @ 3600 MX 30 mx.lapsed-provider.test.")
ZR_STS_UNDO=("zone-unset sts-ok.test. @ MX 20 mx1.provider.test."
    "zone-unset sts-ok.test. @ MX 30 mx.lapsed-provider.test."
    "zone-set sts-ok.test. @ 3600 MX 20 mx2.smtp-ok.test.")
ZR_DANE_DO=("zone-unset dane-ok.test. _25._tcp.mx1 TLSA"
    "zone-set dane-ok.test. mx2 3600 A 127.0.2.30"
    "zone-set dane-ok.test. _25._tcp.mx2 300 TLSA 3 1 1 $zr_digest"
    "zone-set dane-ok.test. @ 3600 MX 20 mx2")
ZR_DANE_UNDO=("zone-unset dane-ok.test. @ MX 20 mx2"
    "zone-unset dane-ok.test. _25._tcp.mx2 TLSA"
    "zone-unset dane-ok.test. mx2 A"
    "zone-set dane-ok.test. _25._tcp.mx1 300 TLSA 3 1 1 $zr_digest")

if ! zr_once; then
    zr_check fail "watch --once (the baseline) failed" "$(tail -n 20 "$ZR/watch.log")"
elif zr_txn sts-ok.test. "${ZR_STS_DO[@]}" && zr_txn dane-ok.test. "${ZR_DANE_DO[@]}"; then
    zr_check ok "knotc published the proposals of sts-ok.test and dane-ok.test"
    "${ZR_UCTL[@]}" flush_zone sts-ok.test >/dev/null 2>&1 || true
    "${ZR_UCTL[@]}" flush_zone dane-ok.test >/dev/null 2>&1 || true
    sleep 1 # the next cycle is due (every = 1s)
    if zr_once; then
        "$MXWATCH" changes --db "$ZR/mxwatch.db" --since 1h --format json >"$ZR/changes.json" 2>>"$ZR/watch.log" || true
        zr_out=$(python3 - "$ZR/changes.json" <<'PY'
import json, sys
changes = json.load(open(sys.argv[1]))
have = {(c["domain"], c["kind"], c["subject"]): c.get("new") or "" for c in changes}
want = [
    ("sts-ok.test", "mx-added", "mx1.provider.test", ""),
    ("sts-ok.test", "consequence", "CHANGE-MTASTS-MX-UNCOVERED mx1.provider.test", "UTC at the latest"),
    ("sts-ok.test", "consequence", "CHANGE-MTASTS-ID-STALE _mta-sts.sts-ok.test", ""),
    ("sts-ok.test", "consequence", "CHANGE-MX-DRAIN mx2.smtp-ok.test", "safe to decommission mx2.smtp-ok.test after "),
    ("dane-ok.test", "consequence", "CHANGE-DANE-MX-WITHOUT-TLSA mx1.dane-ok.test", "dropped"),
]
bad = 0
for domain, kind, subject, text in want:
    got = have.get((domain, kind, subject))
    if got is not None and text in got:
        print(f"ok zone-repo: watch recorded {kind} {subject} ({domain}){': ' + got if got else ''}")
    else:
        bad += 1
        print(f"FAIL zone-repo: watch did not record {kind} {subject} ({domain}) with {text!r}")
if bad:
    print("    | recorded: " + "; ".join(f"{d} {k} {s}" for d, k, s in sorted(have)))
PY
        ) || true
        echo "$zr_out"
        total_pass=$((total_pass + $(grep -c '^ok zone-repo' <<<"$zr_out" || true)))
        total_fail=$((total_fail + $(grep -c '^FAIL zone-repo' <<<"$zr_out" || true)))
    else
        zr_check fail "watch --once after the publication failed" "$(tail -n 20 "$ZR/watch.log")"
    fi
    zr_txn sts-ok.test. "${ZR_STS_UNDO[@]}" || say "zone-repo: could not undo the sts-ok.test edit"
    zr_txn dane-ok.test. "${ZR_DANE_UNDO[@]}" || say "zone-repo: could not undo the dane-ok.test edit"
    "${ZR_UCTL[@]}" flush_zone sts-ok.test >/dev/null 2>&1 || true
    "${ZR_UCTL[@]}" flush_zone dane-ok.test >/dev/null 2>&1 || true
else
    zr_check fail "knotc could not publish the proposals"
fi
