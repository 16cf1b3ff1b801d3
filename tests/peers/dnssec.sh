# shellcheck shell=bash
# DNSSEC and DANE for the real peers. Sourced by tests/peers/run.sh (it uses
# run.sh's variables and helpers: WORK, ZONEDIR, PF, LAB_ROOT, say, die,
# leaf, ossl, san, psan, dig_at, rcode_of, run_mxwatch), never run alone.
#
# What it adds to the run, all on loopback:
#  - dnssec_prepare, before Knot starts: the lab zones are copied to
#    WORK/zones and signed by Knot (automatic signing, keys made beforehand
#    with keymgr), every zone but those whose file says `; lab:unsigned`,
#    the root and test. included; each child's DS goes into its parent's copy.
#    `; lab:bogus=ds`: the parent gets a DS whose digest matches no key.
#    `; lab:bogus=expired`: the zone is signed once by kzonesign "24 days
#    ago" (--time), so every RRSIG expired 10 days ago, and Knot serves that
#    file as it is. The TLSA records of the dane-* zones are made from the
#    certificates Postfix presents (DANE Postfix hosts: postfix-dane.cf.in).
#    Unbound validates from the lab root's DS (trust-anchor-file), and
#    mxwatch gets the same DS with --trust-anchor.
#  - dnssec_kdig_checks / dane_postfix_checks: kdig, delv (BIND's validator,
#    a second opinion next to Unbound) and openssl show what a validating
#    resolver and an SMTP client see, so a failure says which peer is wrong.
#  - dnssec_mxwatch_runs: the DANE run against Postfix
#    (tests/peers/expectations-dane.txt), and the DNSSEC proofs and DANE
#    digests mxwatch recorded (tests/peers/expectations-dnssec.txt).

# Postfix addresses of the DANE lab domains (postfix-dane.cf.in).
DANE_ADDRS=(127.0.2.30 127.0.2.31 127.0.2.32 127.0.2.33 127.0.2.34 127.0.2.35)
PACKAGES+=(bind9-dnsutils) # delv
# mxwatch's DNSSEC options (run.sh's run_mxwatch): --no-dnssec until dnssec_prepare has signed the zones.
# shellcheck disable=SC2034
MX_DNSSEC=(--no-dnssec)
PEERS_DNSSEC=0
export PEERS_DNSSEC

# zone_origin FILE: the zone a lab zone file is for (root.zone is the root).
zone_origin() {
    local base
    base=$(basename "$1" .zone)
    if [ "$base" = root ]; then echo .; else echo "$base."; fi
}
zone_file_of() { # ORIGIN -> file name in WORK/zones
    if [ "$1" = . ]; then echo root.zone; else echo "${1%.}.zone"; fi
}

# signing_mode FILE: unsigned, bogus=expired, bogus=ds, nsec3, ds=unsupported, or signed. Reads the
# first `; lab:...` directive, as mxwatch_lab::signing::Signing does.
signing_mode() {
    local mode
    mode=$(awk '{
        line = $0
        sub(/^[ \t]+/, "", line)
        if (line !~ /^;/) next
        sub(/^;+/, "", line)
        gsub(/^[ \t]+|[ \t]+$/, "", line)
        if (line == "lab:unsigned" || line == "lab:bogus=expired" || line == "lab:bogus=ds" ||
            line == "lab:nsec3" || line == "lab:ds=unsupported") {
            print substr(line, 5)
            exit
        }
    }' "$1")
    echo "${mode:-signed}"
}

# parent_zone ORIGIN: the closest enclosing lab zone (test. for x.test.).
parent_zone() {
    local name=$1
    while [ "$name" != . ]; do
        name=${name#*.}
        [ -n "$name" ] || name=.
        if [ -f "$WORK/zones/$(zone_file_of "$name")" ]; then
            echo "$name"
            return
        fi
    done
    echo .
}

# spki_sha256 CERT-FILE: the TLSA 3 1 1 digest (SHA-256 of the SubjectPublicKeyInfo).
spki_sha256() {
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# set_tlsa ZONE-FILE DIGEST: replaces the digest of the zone's one `_25._tcp.mx1 ... TLSA 3 1 1` line.
set_tlsa() {
    local file=$1 digest=$2 before
    before=$(grep -cE '^_25\._tcp\.mx1[[:space:]].*TLSA[[:space:]]+3 1 1 [0-9a-fA-F]+[[:space:]]*$' "$file") || true
    [ "$before" = 1 ] || die "$file: want one _25._tcp.mx1 TLSA 3 1 1 line to replace, found ${before:-0}"
    sed -i -E "s/^(_25\\._tcp\\.mx1[[:space:]].*TLSA[[:space:]]+3 1 1 )[0-9a-fA-F]+[[:space:]]*\$/\\1$digest/" "$file"
    grep -q "TLSA[[:space:]]*3 1 1 $digest\$" "$file" || die "$file: the TLSA record was not replaced"
}

# --------------------------------------------------------------- prepare --
dnssec_prepare() {
    local D="$WORK/dnssec" f z mode parent past t ds_line tag alg dtype digest n
    local KEYMGR=(keymgr -c "$WORK/knot.conf")
    local started=$SECONDS
    mkdir -p "$D" "$WORK/zones" "$D/presigned"

    # 1. Certificates for the DANE Postfix hosts (the lab CA of run.sh).
    #    dane-ok, dane-partial (mx1) and dane-mismatch get keys of their own
    #    (P-256), so a TLSA record can only match the one host it was made for.
    (
        umask 077
        for name in dane-ok dane-partial dane-mismatch; do
            ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PF/ca/$name.key"
        done
        leaf mx1.dane-ok.test mx1.dane-ok.test "$PF/ca/dane-ok.key" -days 365
        leaf mx1.dane-partial.test mx1.dane-partial.test "$PF/ca/dane-partial.key" -days 365
        leaf mx1.dane-mismatch.test mx1.dane-mismatch.test "$PF/ca/dane-mismatch.key" -days 365
        for name in mx1.dane-unsigned.test mx1.dane-syntax.test mx2.dane-partial.test; do
            leaf "$name" "$name" "$PF/ca/server.key" -days 365
        done
    ) || exit 1
    sed -e "s|@PFDIR@|$PF|g" "$HERE/postfix-dane.cf.in" >>"$PF_ETC/master.cf"

    # 2. The zones Knot serves: copies of the lab's, edited below (the
    #    repository's files are never written).
    cp "$ZONEDIR"/*.zone "$WORK/zones/"
    : >"$D/signed.txt"
    : >"$D/signed-nsec3.txt"
    : >"$D/modes.txt"
    for f in "$WORK"/zones/*.zone; do
        z=$(zone_origin "$f")
        mode=$(signing_mode "$f")
        echo "$z $mode" >>"$D/modes.txt"
        case "$mode" in
            signed | bogus=ds | ds=unsupported) echo "$z" >>"$D/signed.txt" ;; # Knot signs these itself
            nsec3) echo "$z" >>"$D/signed-nsec3.txt" ;; # with NSEC3 and opt-out, like .com
        esac
    done

    # 3. knot.conf: zones from the copies; a signing policy and a template
    #    "signed" (the default template plus automatic signing) for every
    #    zone Knot signs, with NSEC; `; lab:nsec3` zones get "signed-nsec3"
    #    (NSEC3 with opt-out, like .com), as the in-process lab signs them.
    #    manual: on: Knot signs with the keys made below and never rolls them.
    local default_tpl
    default_tpl=$(awk '$0 == "  - id: default" { on = 1; print; next } on && /^    [^ ]/ { print; next } { on = 0 }' \
        "$WORK/knot.conf")
    grep -qxF "    storage: \"$ZONEDIR\"" <<<"$default_tpl" || die "knot.conf: no default template with storage $ZONEDIR"
    default_tpl=${default_tpl/"- id: default"/"- id: signed"}
    default_tpl=${default_tpl/"storage: \"$ZONEDIR\""/"storage: \"$WORK/zones\""}
    local nsec3_tpl=${default_tpl/"- id: signed"/"- id: signed-nsec3"}
    awk -v signed_list="$D/signed.txt" -v nsec3_list="$D/signed-nsec3.txt" -v zonedir="$ZONEDIR" \
        -v copies="$WORK/zones" -v tpl="$default_tpl" -v tpl3="$nsec3_tpl" '
        BEGIN {
            while ((getline z < signed_list) > 0) signed[z] = 1
            while ((getline z < nsec3_list) > 0) signed3[z] = 1
        }
        $0 == "    storage: \"" zonedir "\"" { print "    storage: \"" copies "\""; next }
        $0 == "zone:" {
            print "# tests/peers/dnssec.sh: signing"
            print "policy:"
            print "  - id: lab"
            print "    algorithm: ecdsap256sha256"
            print "    single-type-signing: on"
            print "    manual: on"
            print "    nsec3: off"
            print "  - id: lab-nsec3"
            print "    algorithm: ecdsap256sha256"
            print "    single-type-signing: on"
            print "    manual: on"
            print "    nsec3: on"
            print "    nsec3-opt-out: on"
            print "    nsec3-iterations: 0"
            print "    nsec3-salt-length: 0"
            print ""
            print "template:"
            print tpl
            print "    dnssec-signing: on"
            print "    dnssec-policy: lab"
            print tpl3
            print "    dnssec-signing: on"
            print "    dnssec-policy: lab-nsec3"
            print ""
        }
        /^  - domain: / { d = $3; gsub(/"/, "", d) }
        { print }
        /^    file: / && (d in signed) { print "    template: signed" }
        /^    file: / && (d in signed3) { print "    template: signed-nsec3" }
    ' "$WORK/knot.conf" >"$D/knot.conf"
    mv "$D/knot.conf" "$WORK/knot.conf"
    n=$(grep -c '^    template: signed$' "$WORK/knot.conf") || true
    [ "$n" = "$(wc -l <"$D/signed.txt")" ] || die "knot.conf: $n zones signed, want $(wc -l <"$D/signed.txt")"
    n=$(grep -c '^    template: signed-nsec3$' "$WORK/knot.conf") || true
    [ "$n" = "$(wc -l <"$D/signed-nsec3.txt")" ] ||
        die "knot.conf: $n zones signed with NSEC3, want $(wc -l <"$D/signed-nsec3.txt")"
    knotc -c "$WORK/knot.conf" conf-check >/dev/null ||
        die "knot.conf (signing) does not check: $(knotc -c "$WORK/knot.conf" conf-check 2>&1)"

    # 4. One key (a CSK, ECDSA P-256) per signed zone, made "40 days ago" so
    #    that the bogus=expired zone can be signed in the past with it too.
    past=$(date -u -d '-40 days' +%Y%m%d%H%M%S)
    while read -r z mode; do
        [ "$mode" != unsigned ] || continue
        "${KEYMGR[@]}" "$z" generate algorithm=ecdsap256sha256 ksk=yes zsk=yes \
            created="$past" publish="$past" ready="$past" active="$past" >/dev/null ||
            die "keymgr $z generate failed"
    done <"$D/modes.txt"

    # 5. The DS (SHA-256) of each signed zone into its parent; the root's is
    #    the trust anchor. bogus=ds: every hex digit of the digest shifted.
    : >"$D/ds.txt"
    while read -r z mode; do
        [ "$mode" != unsigned ] || continue
        ds_line=$("${KEYMGR[@]}" "$z" ds | awk '$2 == "DS" && $5 == 2 { print; exit }') || true
        [ -n "$ds_line" ] || die "keymgr $z ds printed no SHA-256 DS"
        read -r _ _ tag alg dtype digest <<<"$ds_line"
        if [ "$mode" = bogus=ds ]; then
            digest=$(tr '0123456789abcdef' '123456789abcdef0' <<<"${digest,,}")
        fi
        if [ "$mode" = ds=unsupported ]; then
            # The in-process lab publishes only an Ed448/GOST DS here; Knot's zone checks refuse
            # that DS ("invalid algorithm in DS"), so with these peers the zone gets no DS at all:
            # still insecure, proven by the parent's NSEC (the unsupported-DS path is tested in-process).
            say "dnssec: $z is '; lab:ds=unsupported': Knot refuses an Ed448/GOST DS, so it gets none here"
            continue
        fi
        ds_line="$z	3600	IN	DS	$tag $alg $dtype $digest"
        echo "$ds_line" >>"$D/ds.txt"
        if [ "$z" = . ]; then
            printf '; the mxwatch lab root (tests/peers/dnssec.sh)\n%s\n' "$ds_line" >"$WORK/lab-root.key"
            printf 'trust-anchors {\n    . static-ds %s %s %s "%s";\n};\n' \
                "$tag" "$alg" "$dtype" "$digest" >"$D/delv-anchor.conf"
        else
            parent=$(parent_zone "$z")
            printf '; DS of %s (tests/peers/dnssec.sh)\n%s\n' "$z" "$ds_line" >>"$WORK/zones/$(zone_file_of "$parent")"
        fi
    done <"$D/modes.txt"
    [ -s "$WORK/lab-root.key" ] || die "the root zone is not signed: no trust anchor"

    # 6. DANE: the TLSA records of the certificates Postfix presents.
    digest=$(spki_sha256 "$PF/ca/mx1.dane-ok.test.crt")
    set_tlsa "$WORK/zones/dane-ok.test.zone" "$digest"
    echo "_25._tcp.mx1.dane-ok.test. $digest" >"$D/tlsa.txt"
    digest=$(spki_sha256 "$PF/ca/mx1.dane-partial.test.crt")
    set_tlsa "$WORK/zones/dane-partial.test.zone" "$digest"
    echo "_25._tcp.mx1.dane-partial.test. $digest" >>"$D/tlsa.txt"
    # dane-mismatch: the digest of the shared server key, not of the key
    # mx1.dane-mismatch.test presents (a real key, renewed without a new record).
    digest=$(openssl pkey -in "$PF/ca/server.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
    set_tlsa "$WORK/zones/dane-mismatch.test.zone" "$digest"
    echo "_25._tcp.mx1.dane-mismatch.test. $digest" >>"$D/tlsa.txt"

    # Every edited zone must still pass Knot's checks (before any signing;
    # run.sh has checked the others).
    while read -r z mode; do
        f="$WORK/zones/$(zone_file_of "$z")"
        cmp -s "$f" "$ZONEDIR/$(zone_file_of "$z")" && continue
        kzonecheck -o "$z" "$f" >/dev/null 2>&1 || {
            kzonecheck -v -o "$z" "$f" >&2 || true
            die "Knot rejects the edited $f"
        }
    done <"$D/modes.txt"

    # 7. bogus=expired: signed once by kzonesign as if it were 24 days ago
    #    (RRSIG lifetime 14 days: every signature expired 10 days ago); Knot
    #    serves the result without signing it again (not in signed.txt).
    t=$(date -u -d '-24 days' +%s)
    sed '/^zone:$/,$d' "$WORK/knot.conf" >"$D/presign.conf"
    echo "zone:" >>"$D/presign.conf"
    while read -r z mode; do
        [ "$mode" = bogus=expired ] || continue
        f=$(zone_file_of "$z")
        printf '  - domain: "%s"\n    file: "%s"\n    template: signed\n' "$z" "$f" >>"$D/presign.conf"
        kzonesign -c "$D/presign.conf" -o "$D/presigned" -t "$t" "$z" >"$D/kzonesign.log" 2>&1 ||
            die "kzonesign $z (in the past) failed: $(cat "$D/kzonesign.log")"
        [ -s "$D/presigned/$f" ] || die "kzonesign wrote no $D/presigned/$f"
        grep -q 'RRSIG[[:space:]]*MX' "$D/presigned/$f" || die "kzonesign did not sign $z"
        cp "$D/presigned/$f" "$WORK/zones/$f"
    done <"$D/modes.txt"

    # 8. Unbound validates from the lab root. Extended DNS errors say why an
    #    answer is SERVFAIL (checked below); val-log-level 2 logs each failure.
    awk -v anchor="$WORK/lab-root.key" '
        /^[[:space:]]*module-config:/ {
            print "    # DNSSEC validation from the lab root (tests/peers/dnssec.sh)."
            print "    module-config: \"validator iterator\""
            print "    trust-anchor-file: \"" anchor "\""
            print "    val-log-level: 2"
            print "    ede: yes"
            print "    trust-anchor-signaling: no"
            # many.test: Knot adds the 500 signed A records of its exchanges to
            # the MX answer, and Unbound (since its KeyTrap fix, CVE-2023-50387)
            # gives up after so many RRSIG validations in one message: SERVFAIL.
            # Unbound treats it as unsigned; mxwatch still validates it itself.
            print "    domain-insecure: \"many.test.\""
            seen++
            next
        }
        { print }
        END { if (seen != 1) exit 1 }
    ' "$WORK/unbound.conf" >"$D/unbound.conf" || die "unbound.conf: no module-config line to replace"
    mv "$D/unbound.conf" "$WORK/unbound.conf"
    unbound-checkconf "$WORK/unbound.conf" >/dev/null ||
        die "unbound.conf (validating) does not check: $(unbound-checkconf "$WORK/unbound.conf" 2>&1)"

    # shellcheck disable=SC2034 # read by run.sh's run_mxwatch
    MX_DNSSEC=(--trust-anchor "$WORK/lab-root.key")
    PEERS_DNSSEC=1
    say "dnssec: Unbound does not validate many.test (500 signed exchange addresses in one answer:" \
        "over Unbound's RRSIG limit per message, CVE-2023-50387); mxwatch does"
    say "dnssec: Knot signs $(wc -l <"$D/signed.txt") zones; kzonesign signed" \
        "$(awk '$2 == "bogus=expired" { print $1 }' "$D/modes.txt" | paste -sd ' ' -) in the past;" \
        "unsigned: $(awk '$2 == "unsigned" { print $1 }' "$D/modes.txt" | paste -sd ' ' -);" \
        "DS matching no key: $(awk '$2 == "bogus=ds" { print $1 }' "$D/modes.txt" | paste -sd ' ' -);" \
        "trust anchor $WORK/lab-root.key (prepared in $((SECONDS - started)) s)"
}

# ------------------------------------------------------------ kdig, delv --
# The lab as a validating resolver sees it; if these fail, the peers (not
# mxwatch) are wrong. Counted with run.sh's kdig checks (san).

# dns_check NAME TYPE WANT [kdig options...]: through Unbound. WANT: "ad"
# (NOERROR, validated), "nxad" (NXDOMAIN, validated), "insecure"
# (NOERROR, not validated), "bogus:REASON" (SERVFAIL with an extended DNS
# error, RFC 8914, and REASON in Unbound's log of validation failures for
# NAME), or "cd" (NOERROR with the
# CD bit: the data of a bogus zone, as mxwatch asks for it).
dns_check() {
    local name=$1 type=$2 want=$3 out rcode flags ede ok=0 cd_flag=()
    shift 3
    [ "$want" = cd ] && cd_flag=(+cd)
    out=$(dig_at "$RES_ADDR" "$name" "$type" +edns "${cd_flag[@]}" "$@")
    rcode=$(rcode_of <<<"$out")
    flags=$(sed -n 's/^;; Flags: \([^;]*\);.*/\1/p' <<<"$out" | head -n 1)
    ede=$(sed -n 's/.*EDE: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    case "$want" in
        ad) [ "$rcode" = NOERROR ] && [[ " $flags " == *" ad "* ]] && ok=1 ;;
        nxad) [ "$rcode" = NXDOMAIN ] && [[ " $flags " == *" ad "* ]] && ok=1 ;;
        insecure) [ "$rcode" = NOERROR ] && [[ " $flags " != *" ad "* ]] && ok=1 ;;
        cd) [ "$rcode" = NOERROR ] && grep -q 'ANSWER: [1-9]' <<<"$out" && ok=1 ;;
        bogus:*)
            # Which EDE Unbound gives depends on what it has cached (6 DNSSEC
            # Bogus, 7 Signature Expired, ...): the reason is read from its log.
            [ "$rcode" = SERVFAIL ] && [ -n "$ede" ] &&
                grep -F "validation failure <$name. " "$WORK/unbound.log" | grep -q -- "${want#bogus:}" && ok=1
            ;;
    esac
    if [ "$ok" = 1 ]; then
        san ok "dnssec $name $type: $want ($rcode, flags $flags${ede:+, EDE $ede})"
    else
        san fail "dnssec $name $type: want $want, got ${rcode:-no answer}, flags '$flags'${ede:+, EDE $ede}"
        sed 's/^/    | /' <<<"$out" | grep -v '^    | $' | head -n 30
    fi
}

# delv_check NAME TYPE WANT(validated|unsigned|failed) [pattern]: BIND's
# validator, asking Unbound with CD and validating itself from the lab anchor.
delv_check() {
    local name=$1 type=$2 want=$3 pat=${4:-} out got
    out=$(timeout 20 delv "@$RES_ADDR" -a "$WORK/dnssec/delv-anchor.conf" +root=. \
        "$name" "$type" 2>&1) || true
    if grep -q '^; fully validated' <<<"$out"; then
        got=validated
    elif grep -q '^; unsigned answer' <<<"$out"; then
        got=unsigned
    elif grep -q 'resolution failed' <<<"$out"; then
        got=failed
    else
        got=unknown
    fi
    if [ "$got" = "$want" ] && { [ -z "$pat" ] || grep -Eq -- "$pat" <<<"$out"; }; then
        san ok "delv $name $type: $got${pat:+ /$pat/}"
    else
        san fail "delv $name $type: want $want${pat:+ /$pat/}, got $got"
        sed 's/^/    | /' <<<"$out" | head -n 20
    fi
}

dnssec_kdig_checks() {
    [ "$PEERS_DNSSEC" = 1 ] || return 0
    local out tlsa
    # Knot signs, and serves the DS records put into the parents.
    out=$(dig_at "$AUTH_ADDR" healthy.test MX +dnssec +norec)
    if grep -Eq 'RRSIG[[:space:]]+MX 13 ' <<<"$out"; then
        san ok "dnssec Knot signs healthy.test MX (ECDSAP256SHA256 RRSIG)"
    else
        san fail "dnssec Knot serves no RRSIG over healthy.test MX"
        sed 's/^/    | /' <<<"$out" | head -n 20
    fi
    out=$(dig_at "$AUTH_ADDR" healthy.test DS +dnssec +norec)
    if grep -Eq 'DS[[:space:]]+[0-9]+ 13 2 ' <<<"$out" && grep -Eq 'RRSIG[[:space:]]+DS ' <<<"$out"; then
        san ok "dnssec test. serves a signed DS for healthy.test"
    else
        san fail "dnssec test. serves no signed DS for healthy.test"
        sed 's/^/    | /' <<<"$out" | head -n 20
    fi
    out=$(dig_at "$AUTH_ADDR" sec-bogus.test MX +dnssec +norec)
    if grep -Eq 'RRSIG[[:space:]]+MX 13 2 3600 [0-9]{14} ' <<<"$out"; then
        local expires
        expires=$(grep -E 'RRSIG[[:space:]]+MX ' <<<"$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "RRSIG") { print $(i + 5); exit } }')
        if [ -n "$expires" ] && [ "$expires" -lt "$(date -u +%Y%m%d%H%M%S)" ]; then
            san ok "dnssec Knot serves sec-bogus.test MX with an RRSIG that expired at $expires"
        else
            san fail "dnssec sec-bogus.test's RRSIG should have expired; expiration ${expires:-not found}"
        fi
    else
        san fail "dnssec Knot serves no RRSIG over sec-bogus.test MX"
        sed 's/^/    | /' <<<"$out" | head -n 20
    fi

    # Unbound, validating from the lab root.
    dns_check . SOA ad
    dns_check healthy.test MX ad
    dns_check mx1.provider.test A ad
    dns_check 10.1.0.127.in-addr.arpa PTR ad
    dns_check sec-mxunsigned.test MX ad
    dns_check sec-unsigned.test MX insecure
    dns_check mx1.sec-plain.test A insecure
    dns_check nosuch.healthy.test A nxad # a signed NXDOMAIN (NSEC)
    dns_check healthy.test TXT ad        # a signed NODATA
    dns_check sec-bogus.test MX "bogus:signature expired"
    dns_check sec-bogus.test MX cd
    dns_check sec-badds.test MX "bogus:DS hash mismatches key"
    dns_check sec-badds.test MX cd
    # DANE: the records dnssec_prepare made, validated.
    while read -r owner digest; do
        dns_check "$owner" TLSA ad
        tlsa=$(dig_at "$RES_ADDR" "$owner" TLSA +short | tr -d ' ' | tr 'A-F' 'a-f')
        if [ "$tlsa" = "311$digest" ]; then
            san ok "dnssec $owner TLSA is 3 1 1 ${digest:0:16}..."
        else
            san fail "dnssec $owner TLSA: want 3 1 1 $digest, got ${tlsa:-nothing}"
        fi
    done <"$WORK/dnssec/tlsa.txt"
    dns_check _25._tcp.mx1.dane-unsigned.test TLSA insecure

    # BIND's validator agrees.
    delv_check healthy.test MX validated
    delv_check _25._tcp.mx1.dane-ok.test TLSA validated
    delv_check sec-unsigned.test MX unsigned
    delv_check sec-bogus.test MX failed
    delv_check sec-badds.test MX failed
}

# -------------------------------------------------------------- openssl --
# dane_postfix_checks: each DANE Postfix host presents the certificate its
# TLSA record describes (or, for dane-mismatch, does not). Counted with
# run.sh's Postfix checks (psan).
dane_postfix_checks() {
    [ "$PEERS_DNSSEC" = 1 ] || return 0
    local addr name bits owner want digest
    local -A spki_of=()
    while read -r addr name bits; do
        pf_tls "$addr" "$name" TLSv1.3 0 "$name" "$bits" 2
        spki_of[$addr]=$(sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/p' <<<"$PF_TLS_OUT" |
            openssl x509 -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null |
            sha256sum | cut -d' ' -f1) || true
    done <<'EOF'
127.0.2.30 mx1.dane-ok.test 256
127.0.2.31 mx1.dane-mismatch.test 256
127.0.2.32 mx1.dane-unsigned.test 2048
127.0.2.33 mx1.dane-partial.test 256
127.0.2.34 mx1.dane-syntax.test 2048
127.0.2.35 mx2.dane-partial.test 2048
EOF
    while read -r addr owner want; do
        digest=$(awk -v o="$owner." '$1 == o { print $2 }' "$WORK/dnssec/tlsa.txt")
        if { [ "$want" = match ] && [ "${spki_of[$addr]}" = "$digest" ]; } ||
            { [ "$want" = nomatch ] && [ -n "$digest" ] && [ "${spki_of[$addr]}" != "$digest" ]; }; then
            psan ok "$addr: the served key (SHA-256 SPKI ${spki_of[$addr]:0:16}...) and $owner TLSA: $want"
        else
            psan fail "$addr: want $want between the served key (SHA-256 SPKI ${spki_of[$addr]}) and $owner TLSA ($digest)"
        fi
    done <<'EOF'
127.0.2.30 _25._tcp.mx1.dane-ok.test match
127.0.2.33 _25._tcp.mx1.dane-partial.test match
127.0.2.31 _25._tcp.mx1.dane-mismatch.test nomatch
EOF
}

# ------------------------------------------------------------------ mxwatch --
# dnssec_mxwatch_runs: the DANE run against Postfix, then the proofs mxwatch
# recorded (its dns run and the DANE run) against expectations-dnssec.txt.
# Adds to total_pass / total_fail.
dnssec_mxwatch_runs() {
    if [ "$PEERS_DNSSEC" != 1 ]; then
        say "dnssec: the zones are not signed; no DANE run"
        return 0
    fi
    local log_at log missed=() addr counts p f
    log_at=$(wc -l <"$PF/maillog")
    run_mxwatch dane "$HERE/expectations-dane.txt" --ca-file "$LAB_ROOT"
    log=$(pf_log_since "$log_at")
    for addr in "${DANE_ADDRS[@]}"; do
        grep -q "postfix/$addr/smtpd\[[0-9]*\]: connect from" <<<"$log" || missed+=("$addr")
    done
    if [ "${#missed[@]}" -eq 0 ]; then
        total_pass=$((total_pass + 1))
        echo "ok dane: mxwatch connected to all ${#DANE_ADDRS[@]} DANE Postfix addresses"
    else
        total_fail=$((total_fail + 1))
        echo "FAIL dane: mxwatch never connected to ${missed[*]}"
    fi

    python3 - "$HERE/expectations-dnssec.txt" "$WORK/dnssec/tlsa.txt" "$WORK/dnssec/proofs.counts" \
        "$WORK/mxwatch-dane.json" "$WORK/mxwatch-dns.json" <<'PY' || true
import json
import sys

expect_path, tlsa_path, counts_path, *reports = sys.argv[1:]
passed = failed = 0


def result(ok, what, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok dnssec proof: {what}")
    else:
        failed += 1
        print(f"FAIL dnssec proof: {what}: {why}")


def norm(name):
    return name.strip().rstrip(".").lower()


# The first report file that has the domain wins (the DANE run has the SMTP probe).
observations = {}
for path in reports:
    try:
        with open(path, encoding="utf-8") as f:
            for report in json.load(f):
                observations.setdefault(norm(report.get("domain", "")), report.get("observation") or {})
    except (OSError, ValueError, AttributeError) as e:
        print(f"note: cannot read {path}: {e}")
tlsa = {}
for line in open(tlsa_path, encoding="utf-8"):
    owner, digest = line.split()
    tlsa[norm(owner)] = digest.lower()


def proof_of(obs, rrset):
    dnssec = obs.get("dnssec") or {}
    kind, _, host = rrset.partition(":")
    if kind == "MX":
        for entry in dnssec.get("domain") or []:
            if entry.get("question", "").split(" ")[0] == "MX":
                return entry.get("proof")
        return None
    for exchange in dnssec.get("exchanges") or []:
        if norm(exchange.get("name", "")) == norm(host):
            if kind == "A":
                return (exchange.get("address") or {}).get("proof")
            if kind == "TLSA":
                return exchange.get("tlsa_proof")
    return None


def dane(obs, host, want):
    """Compares the TLSA mxwatch saw with the one dnssec.sh made and with the
    SPKI of the certificate mxwatch was shown."""
    made = tlsa.get(norm(f"_25._tcp.{host}"))
    seen, spkis = [], []
    for exchange in (obs.get("dnssec") or {}).get("exchanges") or []:
        if norm(exchange.get("name", "")) == norm(host):
            seen = [r.get("data", "").lower() for r in ((exchange.get("tlsa") or {}).get("value") or [])]
    for exchange in obs.get("exchanges") or []:
        if norm(exchange.get("name", "")) == norm(host):
            for address in exchange.get("addresses") or []:
                for cert in ((address.get("smtp") or {}).get("certificates") or [])[:1]:
                    spkis.append(cert.get("spki_sha256", "").lower())
    if not made or seen != [made]:
        return False, f"TLSA seen {seen}, made {made}"
    if not spkis:
        return False, "no certificate was recorded"
    matches = all(s == made for s in spkis)
    if want == "match" and matches:
        return True, ""
    if want == "nomatch" and not any(s == made for s in spkis):
        return True, ""
    return False, f"certificate SPKI {spkis}, TLSA {made}"


for lineno, raw in enumerate(open(expect_path, encoding="utf-8"), 1):
    words = raw.split("#", 1)[0].split()
    if not words:
        continue
    if len(words) < 3:
        sys.exit(f"{expect_path}:{lineno}: want DOMAIN RRSET STATUS [DETAIL]")
    domain, rrset, want = norm(words[0]), words[1], words[2]
    detail = words[3] if len(words) > 3 else None
    what = f"{domain} {rrset} {want}{' ' + detail if detail else ''}"
    obs = observations.get(domain)
    if obs is None:
        result(False, what, "no report for the domain")
        continue
    if rrset.startswith("DANE:"):
        ok, why = dane(obs, rrset.split(":", 1)[1], want)
        result(ok, what, why)
        continue
    proof = proof_of(obs, rrset)
    if not proof:
        result(False, what, "no proof recorded")
        continue
    status = proof.get("status")
    got_detail = proof.get("link") if status == "bogus" else proof.get("zone")
    ok = status == want and (detail is None or norm(str(got_detail)) == norm(detail))
    result(ok, what, f"got {json.dumps(proof)}")

with open(counts_path, "w", encoding="utf-8") as f:
    f.write(f"{passed} {failed}\n")
PY
    counts=$(cat "$WORK/dnssec/proofs.counts" 2>/dev/null) || die "cannot check the DNSSEC proofs (see above)"
    read -r p f <<<"$counts"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    say "dnssec proofs: $p of $((p + f)) as expected"
}
