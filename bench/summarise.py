#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the Markdown table of docs/performance.md: medians of
the alternating runs per size and tool.

    python3 bench/summarise.py target/bench/results.jsonl
"""

import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = defaultdict(list)
recording = {}
for r in rows:
    if r.get("what") == "recording":
        recording[r["size"]] = r
        continue
    key = (r["size"], r["tool"], r.get("resolvers"))
    by[key].append(r)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


print("| size | tool | domains/s | vs dnsperf | vs checkdmarc | client CPU µs/question | questions/domain at Knot | peak RSS MiB | runs |")
print("|---|---|---|---|---|---|---|---|---|")
sizes = sorted({k[0] for k in by})
for size in sizes:
    dnsperf = med([r["domains"] / r["run_s"] for r in by.get((size, "dnsperf", None), []) if r["run_s"]])
    check = med([r["domains"] / r["m"]["wall_s"] for r in by.get((min(sizes), "checkdmarc", None), [])])
    for (s, tool, resolvers), runs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        if s != size:
            continue
        if tool == "dnsperf":
            rate = dnsperf
            # dnsperf polls while it waits, so its CPU time says nothing; its run on a core of its
            # own bounds its cost: at most its run time per question sent.
            cpu = med([r["run_s"] * 1e6 / r["sent"] for r in runs if r.get("sent")])
            cpu = f"≤ {fmt(cpu, 1)}" if cpu else "–"
            print(f"| {size:,} | dnsperf (ideal client) | {fmt(rate)} | 1 | | {cpu} | | | {len(runs)} |")
            continue
        rate = med([r["domains"] / r["m"]["wall_s"] for r in runs])
        cpu = med([(r["m"]["user_s"] + r["m"]["sys_s"]) * 1e6 / r["knot_questions"]
                   for r in runs if r.get("knot_questions")])
        qpd = med([r["knot_questions"] / r["domains"] for r in runs if r.get("knot_questions")])
        rss = med([r["m"]["max_rss_kib"] / 1024 for r in runs])
        failed = [r["m"]["status"] for r in runs if r["m"]["status"] not in (0, 1, 3)]
        name = tool if resolvers is None else f"{tool} ×{resolvers}"
        ratio_perf = fmt(rate / dnsperf, 2) if rate and dnsperf and tool == "mxwatch" else ""
        ratio_check = fmt(rate / check, 0) if rate and check and tool == "mxwatch" else ""
        print(f"| {size:,} | {name}{' (exit ' + str(failed) + ')' if failed else ''} | {fmt(rate)} | {ratio_perf} | {ratio_check} | {fmt(cpu, 1)} | {fmt(qpd, 2)} | {fmt(rss)} | {len(runs)} |")
print()
for (size, tool, resolvers), runs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
    busy = [r["servers_cpu_s"] / r["m"]["wall_s"] for r in runs if "servers_cpu_s" in r]
    if busy:
        print(f"- {size:,} domains, Unbound ×{resolvers}: the servers (Knot and Unbound, sharing CPU 0) were busy "
              f"{fmt(100 * med(busy))} % of the rounds' wall time (median).")
for size, r in sorted(recording.items()):
    print(f"- {size:,} domains: mxwatch asked {r['questions']:,} questions, {r['distinct']:,} distinct "
          f"(name, type) ({r['questions'] - r['distinct']:,} repeats); {r['records_out']:,} records out.")
