"""The named peer of the bulk benchmark: dnspython's asyncio resolver doing the
lookups mxwatch's collector does for each domain (MX, SOA, NS, SPF/_dmarc/
_mta-sts/_smtp._tls TXT; A and AAAA of each exchange; PTR of each address and
the forward lookup of each PTR name), with the same sharing: a dict cache so a
provider's hosts are asked once per run, and the same concurrency limit.
Prints one line: domains, seconds, rates, peak RSS.

    python3 peer_dnspython.py RESOLVER_IP PORT DOMAINS CONCURRENCY
"""

import asyncio
import resource
import sys
import time

import dns.asyncresolver
import dns.exception
import dns.resolver
import dns.reversename


async def main(ip: str, port: int, domains: int, concurrency: int) -> None:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [ip]
    resolver.port = port
    resolver.lifetime = 6.0
    resolver.timeout = 3.0
    cache: dict = {}
    inflight: dict = {}
    limit = asyncio.Semaphore(concurrency)
    asked = 0

    async def ask(name: str, rtype: str):
        nonlocal asked
        key = (name.lower(), rtype)
        if key in cache:
            return cache[key]
        if key in inflight:
            return await inflight[key]
        future = asyncio.get_running_loop().create_future()
        inflight[key] = future
        async with limit:
            asked += 1
            try:
                answer = [r.to_text() for r in await resolver.resolve(name, rtype, raise_on_no_answer=False)]
            except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout):
                answer = []
        cache[key] = answer
        future.set_result(answer)
        del inflight[key]
        return answer

    async def domain(name: str) -> None:
        mx, *_ = await asyncio.gather(
            ask(name, "MX"),
            ask(name, "SOA"),
            ask(name, "NS"),
            ask(name, "TXT"),
            ask("_dmarc." + name, "TXT"),
            ask("_mta-sts." + name, "TXT"),
            ask("_smtp._tls." + name, "TXT"),
        )
        exchanges = [r.split()[1] for r in mx]
        for exchange in exchanges:
            a, aaaa = await asyncio.gather(ask(exchange, "A"), ask(exchange, "AAAA"))
            for address in a + aaaa:
                ptrs = await ask(dns.reversename.from_address(address).to_text(), "PTR")
                await asyncio.gather(*(ask(p, "A" if ":" not in address else "AAAA") for p in ptrs))

    started = time.monotonic()
    await asyncio.gather(*(domain(f"d{i}.bench.test") for i in range(domains)))
    took = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"dnspython domains={domains} concurrency={concurrency} seconds={took:.2f} "
        f"domains_per_s={domains / took:.0f} queries={asked} queries_per_s={asked / took:.0f} peak_rss_kib={peak_kib}"
    )


if __name__ == "__main__":
    ip, port, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(main(ip, port, n, c))
