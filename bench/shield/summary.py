#!/usr/bin/env python3
"""Summary of bench/shield/run.sh: medians over rounds, ratios, the issue's targets.

    summary.py RESULTS.tsv NCPU

RESULTS.tsv lines (tab-separated), written by run.sh:
    res  ROUND CASE SYSTEM VALUE UNIT P50_MS P99_MS CPU_US_PER_OP
    info NAME  KEY  VALUE
A ratio is the median over rounds of the per-round ratio (the two systems of a round
ran one right after the other, so slow drift on the machine cancels out).
"""
import collections
import statistics
import sys

# (case prefix, title, target vs native, target vs gocryptfs)
CASES = [
    ("redis:off:P1:SET", "redis SET, P=1, no persistence", 0.9, None),
    ("redis:off:P1:GET", "redis GET, P=1, no persistence", 0.9, None),
    ("redis:off:P16:SET", "redis SET, P=16, no persistence", 0.9, None),
    ("redis:off:P16:GET", "redis GET, P=16, no persistence", 0.9, None),
    ("redis:always:P1:SET", "redis SET, P=1, AOF fsync always", 0.7, None),
    ("redis:always:P1:GET", "redis GET, P=1, AOF fsync always", 0.7, None),
    ("redis:always:P16:SET", "redis SET, P=16, AOF fsync always", 0.7, None),
    ("redis:always:P16:GET", "redis GET, P=16, AOF fsync always", 0.7, None),
    ("memcached:get90/set10", "memcached 90% get/10% set", 0.9, None),
    ("nginx:4k", "nginx 4 KiB file", 0.8, None),
    ("nginx:1m", "nginx 1 MiB file", 0.8, None),
    ("fio:seqwrite", "fio seq write 1 MiB + fsync", None, 2.0),
    ("fio:seqread", "fio seq read 1 MiB, cold", None, 2.0),
    ("fio:randread", "fio rand read 4 KiB, cold", None, 2.0),
    ("fio:randwrite", "fio rand write 4 KiB + fsync", None, 2.0),
]
SYSTEMS = ["native", "shielded", "gocryptfs"]


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def main():
    path, ncpu = sys.argv[1], sys.argv[2]
    res = collections.defaultdict(dict)  # (case, system) -> round -> row
    info = collections.defaultdict(list)
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "res":
            _, rnd, case, system, value, unit, p50, p99, cpu = f
            res[(case, system)][int(rnd)] = dict(
                value=float(value), unit=unit, p50=num(p50), p99=num(p99), cpu=num(cpu))
        elif f[0] == "info":
            info[(f[1], f[2])].append(float(f[3]))

    def med(case, system, key="value"):
        vals = [r[key] for r in res.get((case, system), {}).values() if r[key] is not None]
        return statistics.median(vals) if vals else None

    def ratio(case, a, b):
        ra, rb = res.get((case, a), {}), res.get((case, b), {})
        per = [ra[k]["value"] / rb[k]["value"] for k in sorted(ra) if k in rb and rb[k]["value"] > 0]
        return (statistics.median(per), per) if per else (None, [])

    def fmt(v, unit=""):
        if v is None:
            return "-"
        return f"{v:,.0f}" if v >= 1000 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    def verdict(r, t):
        if t is None:
            return ""
        if r is None:
            return f">= {t}x ?"
        return f">= {t}x {'met' if r >= t else 'MISSED'}"

    nrounds = max((max(v) + 1 for v in res.values() if v), default=0)
    print()
    print(f"== summary: medians of {nrounds} round(s); ratios are the median of the per-round "
          "ratios (higher is better for the shield)")
    print(f"   {ncpu} vCPUs shared by the load generator (redis-benchmark, memaslap, wrk, fio) "
          "and the server: every figure includes the client's competition for the CPUs")
    print()
    print("| case | unit | native | shielded | gocryptfs | shielded/native | shielded/gocryptfs "
          "| target | server CPU us/op native -> shielded |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    misses, mets = [], []
    for case, title, t_nat, t_goc in CASES:
        if not any((case, s) in res for s in SYSTEMS):
            continue
        unit = next(r["unit"] for s in SYSTEMS for r in res.get((case, s), {}).values())
        cells = [fmt(med(case, s)) for s in SYSTEMS]
        rn, pn = ratio(case, "shielded", "native")
        rg, pg = ratio(case, "shielded", "gocryptfs")
        if case in ("fio:randread", "fio:randwrite"):
            iops = [fmt(med(case + ":iops", s)) for s in SYSTEMS]
            cells = [f"{c} ({i}/s)" if c != "-" else c for c, i in zip(cells, iops)]
        per = lambda p: "" if len(p) < 2 else " [" + ", ".join(f"{x:.2f}" for x in p) + "]"
        target = t_goc if t_goc is not None else t_nat
        r_t = rg if t_goc is not None else rn
        v = verdict(r_t, target)
        if t_goc is not None:
            v += " vs gocryptfs"
        if v.endswith("met") or v.endswith("met vs gocryptfs"):
            mets.append(title)
        elif v:
            misses.append(title)
        cn, cs = med(case, "native", "cpu"), med(case, "shielded", "cpu")
        cpu = "-" if cn is None or cs is None else f"{cn:.2f} -> {cs:.2f} ({cs / cn:.2f}x)" if cn > 0 else f"{cn:.2f} -> {cs:.2f}"
        if case.startswith("fio:"):
            cg = med(case, "gocryptfs", "cpu")
            cpu = "-" if cn is None or cs is None else f"{cn:.1f} / {cs:.1f} / {fmt(cg)} (fio{' + daemon' if cg else ''})"
        print(f"| {title} | {unit} | {cells[0]} | {cells[1]} | {cells[2]} | "
              f"{fmt(rn)}x{per(pn)} | {fmt(rg) + 'x' + per(pg) if rg is not None else '-'} | {v} | {cpu} |")
    print()
    print("Targets (issue 4): redis and memcached >= 0.9x native; redis with appendfsync always "
          ">= 0.7x native; nginx >= 0.8x native; shielded file I/O >= 2x gocryptfs.")
    print("\"met\"/\"MISSED\" describes this run only; [..] are the per-round ratios. fio's CPU "
          "column is CPU us per I/O of fio itself (native / shielded / gocryptfs, plus the "
          "gocryptfs daemon's).")
    print(f"met: {len(mets)}; missed: {len(misses)}" + (f" ({'; '.join(misses)})" if misses else ""))
    if info:
        print()
        print("start-up, median ms from launch to the port open (servers) or to fio's first job "
              "(fio; shielded: measure, unseal, open and replay the volume):")
        print("  " + "; ".join(f"{name} {statistics.median(v):.0f}"
                               for (name, key), v in sorted(info.items()) if key == "startup_ms"))


if __name__ == "__main__":
    main()
