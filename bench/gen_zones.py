#!/usr/bin/env python3
"""Generates the benchmark's synthetic internet: N domains under `bench.` served by Knot.

    python3 bench/gen_zones.py N OUTDIR [PROVIDERS]

Writes OUTDIR/bench.zone, OUTDIR/ptr.zone (127.in-addr.arpa: the PTRs of every mail host),
OUTDIR/domains.txt (the list to scan) and OUTDIR/subset.txt (every 100th domain, for the slow
peer). Deterministic: the same N gives the same files.

Each domain dN.bench has two MX at a mail provider (PROVIDERS providers, default 100, two hosts
each: 200 addresses, all in 127.10.0.0/16), SPF (mx plus the provider's include), DMARC, an
MTA-STS TXT record, TLS-RPT; each provider host has A, a PTR that confirms forward, and a TLSA
record on _25._tcp. About one domain in ten is broken on purpose, in rotating ways: no DMARC,
SPF +all, two SPF records, an MX to a host that does not exist, an MX to an address literal
name, a CNAME as MX target, no MX at all (implicit MX), a DMARC with a syntax error, NXDOMAIN
(listed but never delegated).
"""

import os
import sys

BROKEN_EVERY = 10


def provider_hosts(k: int):
    """The two mail hosts of provider k and their addresses (127.10.x.y, never .0 or .255)."""
    hosts = []
    for n in (1, 2):
        index = 2 * k + n
        ip = f"127.10.{index // 250}.{index % 250 + 1}"
        hosts.append((f"mx{n}.p{k}.bench.", ip))
    return hosts


def apex(origin: str) -> str:
    """A zone's first lines: origin, TTL, SOA and NS (both zones are served by ns1.bench)."""
    return (
        f"$ORIGIN {origin}\n$TTL 3600\n"
        "@ IN SOA ns1.bench. hostmaster.bench. 2026120201 3600 600 604800 300\n"
        "@ IN NS ns1.bench.\n"
    )


def main() -> None:
    count = int(sys.argv[1])
    outdir = sys.argv[2]
    providers = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "bench.zone"), "w") as z:
        z.write(apex("bench.") + "ns1 IN A 127.0.0.1\n")
        for k in range(providers):
            hosts = provider_hosts(k)
            ips = " ".join(f"ip4:{ip}" for _, ip in hosts)
            z.write(f'_spf.p{k} IN TXT "v=spf1 {ips} -all"\n')
            z.write(f'_mta-sts.p{k} IN TXT "v=STSv1; id=20261202"\n')
            for name, ip in hosts:
                z.write(f"{name} IN A {ip}\n")
                # A made-up SHA-256 of an SPKI: syntax is what the DNS part checks.
                digest = f"{k:08x}{name.encode().hex()}".ljust(64, "0")[:64]
                z.write(f"_25._tcp.{name} IN TLSA 3 1 1 {digest}\n")
        for i in range(count):
            d = f"d{i}"
            k = i % providers
            broken = i % BROKEN_EVERY == BROKEN_EVERY - 1
            case = (i // BROKEN_EVERY) % 9 if broken else None
            mx1, mx2 = (h for h, _ in provider_hosts(k))
            if case == 8:
                continue  # listed, never delegated: NXDOMAIN
            if case == 3:
                z.write(f"{d} IN MX 10 {mx1}\n{d} IN MX 20 gone{i}.bench.\n")
            elif case == 4:
                z.write(f"{d} IN MX 10 127.10.0.1.\n")
            elif case == 5:
                z.write(f"{d} IN MX 10 mail.{d}.bench.\nmail.{d} IN CNAME {mx1}\n")
            elif case == 6:
                z.write(f"{d} IN A 127.10.0.2\n")
            else:
                z.write(f"{d} IN MX 10 {mx1}\n{d} IN MX 20 {mx2}\n")
            spf = f"v=spf1 mx include:_spf.p{k}.bench. -all"
            if case == 1:
                spf = "v=spf1 +all"
            z.write(f'{d} IN TXT "{spf}"\n')
            if case == 2:
                z.write(f'{d} IN TXT "v=spf1 mx -all"\n')
            if case == 7:
                z.write(f'_dmarc.{d} IN TXT "v=DMARC1; p=bogus"\n')
            elif case != 0:
                z.write(f'_dmarc.{d} IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}.bench"\n')
            z.write(f'_mta-sts.{d} IN TXT "v=STSv1; id=20261202{i % 7}"\n')
            z.write(f'_smtp._tls.{d} IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d}.bench"\n')
    with open(os.path.join(outdir, "ptr.zone"), "w") as z:
        z.write(apex("127.in-addr.arpa."))
        for k in range(providers):
            for name, ip in provider_hosts(k):
                a, b, c, d = ip.split(".")
                z.write(f"{d}.{c}.{b} IN PTR {name}\n")
    with open(os.path.join(outdir, "domains.txt"), "w") as f:
        for i in range(count):
            f.write(f"d{i}.bench\n")
    with open(os.path.join(outdir, "subset.txt"), "w") as f:
        for i in range(0, count, 100):
            f.write(f"d{i}.bench\n")


if __name__ == "__main__":
    main()
