#!/usr/bin/env python3
"""Summarise bench/run.sh results: medians per target and mode, same-round
sluice/kfake (and sluice/klite, sluice/sluice-base) ratios, latency percentiles, peak RSS, and the issue's targets."""
import json
import os
import statistics
import sys
from collections import defaultdict


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = defaultdict(list)
for r in rows:
    by[(r.get("target"), r["mode"])].append(r)

print("== medians over rounds (n = runs)")
print(f"{'target':22} {'mode':8} {'n':>2} {'MB/s':>8} {'rec/s':>9} "
      f"{'prod p50':>9} {'p90':>8} {'p99':>8} {'max':>8} {'e2e p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  ok")
for (t, m), rs in sorted(by.items()):
    if m == "rss":
        continue
    pl = lambda k: med([(r.get("produce_latency") or {}).get(k) for r in rs])
    el = lambda k: med([(r.get("e2e_latency") or {}).get(k) for r in rs])
    print(f"{t:22} {m:8} {len(rs):>2} {fmt(med([r.get('mb_per_s') for r in rs])):>8} "
          f"{fmt(med([r.get('records_per_s') for r in rs]), 0):>9} "
          f"{fmt(pl('p50_ms'), 1):>9} {fmt(pl('p90_ms'), 1):>8} {fmt(pl('p99_ms'), 1):>8} {fmt(pl('max_ms'), 1):>8} "
          f"{fmt(el('p50_ms'), 1):>8} {fmt(el('p90_ms'), 1):>8} {fmt(el('p99_ms'), 1):>8} {fmt(el('max_ms'), 1):>8}  "
          f"{all(r.get('ok') for r in rs)}")

# Same-round ratios of sluice's MB/s to each baseline's present in the run.
ratios_by = {}
for base in ("kfake", "klite", "sluice-base"):
    if not any(t == base for t, _ in by):
        continue
    print(f"\n== same-round ratios sluice/{base} (MB/s)")
    rs_ = ratios_by[base] = defaultdict(list)
    for m in ("produce", "consume", "e2e"):
        s = {r["round"]: r for r in by.get(("sluice", m), [])}
        k = {r["round"]: r for r in by.get((base, m), [])}
        for rd in sorted(set(s) & set(k)):
            if k[rd].get("mb_per_s") and s[rd].get("mb_per_s") is not None:
                rs_[m].append(s[rd]["mb_per_s"] / k[rd]["mb_per_s"])
        if rs_[m]:
            print(f"{m:8} rounds {' '.join(fmt(x) for x in rs_[m])}  median {fmt(med(rs_[m]))}")
ratios = ratios_by.get("kfake", {})

print("\n== server CPU seconds per run (median user + system; system)")
for (t, m), rs in sorted(by.items()):
    if m in ("produce", "consume") and any("server_sys_s" in r for r in rs):
        u, sy = med([r.get("server_user_s") for r in rs]), med([r.get("server_sys_s") for r in rs])
        print(f"{t:22} {m:8} user {fmt(u)}  system {fmt(sy)}  total {fmt(None if u is None else u + sy)}")

print("\n== peak RSS (MiB, VmHWM per server process)")
for (t, m), rs in sorted(by.items()):
    if m == "rss":
        print(f"{t:22} max {fmt(max(r['peak_rss_mib'] for r in rs), 1)}  per round "
              + " ".join(fmt(r["peak_rss_mib"], 1) for r in rs))

print("\n== targets")


def p99(t, kind):
    return med([(r.get(kind) or {}).get("p99_ms") for r in by.get((t, "e2e"), [])])


checks = [
    ("produce >= 0.8x kfake", med(ratios.get("produce", [])), lambda v: v >= 0.8),
    ("consume >= 1.0x kfake", med(ratios.get("consume", [])), lambda v: v >= 1.0),
    ("5ms batches: produce p99 <= 20ms", p99("sluice-5ms", "produce_latency"), lambda v: v <= 20),
    ("5ms batches: e2e p99 <= 25ms", p99("sluice-5ms", "e2e_latency"), lambda v: v <= 25),
    ("250ms batches: produce p99 <= 300ms", p99("sluice", "produce_latency"), lambda v: v <= 300),
    ("250ms batches: e2e p99 <= 600ms", p99("sluice", "e2e_latency"), lambda v: v <= 600),
]
if "klite" in ratios_by:
    checks += [
        ("produce >= 1.0x klite", med(ratios_by["klite"].get("produce", [])), lambda v: v >= 1.0),
        ("consume >= 1.0x klite", med(ratios_by["klite"].get("consume", [])), lambda v: v >= 1.0),
    ]
if os.environ.get("BUCKET") == "s3":
    checks.insert(0, ("S3: produce >= 200 MB/s", med([r.get("mb_per_s") for r in by.get(("sluice", "produce"), [])]),
                      lambda v: v >= 200))
for name, v, ok in checks:
    print(f"{name:40} {fmt(v):>8}  {'-' if v is None else ('met' if ok(v) else 'NOT met')}")
