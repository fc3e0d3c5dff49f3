#!/usr/bin/env python3
"""Tables of benches/cluster.sh: RESULTS.jsonl -> Markdown on stdout.

Every line is one banter-bench fanout run tagged by cluster.sh with its
configuration (alone, one, two, two-independent, two-mirrored, before),
repetition, shape,
and Redis's XADD and total command counts over the run. Ratios are taken
within each repetition (the configurations of one repetition ran back to
back), then their median is shown next to every repetition's value.
"""
import json
import statistics
import sys


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            if "error" not in r:
                rows.append(r)
    return rows


def cpu_of(r, name):
    """CPU seconds of the processes called `name` in a run, or None."""
    procs = r.get("processes") or []
    vals = [p["cpu_s"] for p in procs if p["name"] == name]
    return sum(vals) if vals else None


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def per_rep(rows, shape, config):
    return {r["rep"]: r for r in rows if r["shape"] == shape and r["config"] == config}


def main(path):
    rows = load(path)
    configs = [c for c in ["before", "alone", "one", "two", "two-independent", "two-mirrored"] if any(r["config"] == c for r in rows)]
    two = "two" if "two" in configs else "two-independent"
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    print("CPU-s/M: CPU seconds per million deliveries, summed over every banterd and, with [cluster],")
    print("redis-server. Medians over repetitions; the machine is shared, so read the ratios (one run).\n")
    print("| shape | config | delivered/s | p50 ms | p99 ms | CPU-s/M | of which redis | loss | dups | reordered | broken | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for c in configs:
            rs = [r for r in rows if r["shape"] == shape and r["config"] == c]
            if not rs:
                continue
            redis_m = med([
                cpu_of(r, "redis-server") / (r["delivered"] / 1e6)
                for r in rs if cpu_of(r, "redis-server") is not None and r["delivered"]
            ])
            total = lambda k: sum(r[k] for r in rs)
            print(f"| {shape} | {c} | {fmt(med([r['delivered_per_s'] for r in rs]), ',.0f')} "
                  f"| {fmt(med([r['latency_us']['p50'] / 1000 for r in rs]), '.2f')} "
                  f"| {fmt(med([r['latency_us']['p99'] / 1000 for r in rs]), '.2f')} "
                  f"| {fmt(med([r.get('server_cpu_s_per_million') for r in rs]), '.3f')} "
                  f"| {fmt(redis_m, '.3f')} | {total('loss')} | {total('dups')} | {total('reordered')} "
                  f"| {total('broken')} | {len(rs)} |")

    pairs = [(two, "alone"), (two, "one"), ("two-independent", "alone"), (two, "two-independent"),
             ("two-mirrored", "alone"), (two, "two-mirrored"), ("one", "alone"), ("alone", "before")]
    pairs = [(a, b) for a, b in pairs if a in configs and b in configs and a != b]
    print("\nRatios within each repetition (values per repetition, then the median):\n")
    print("| shape | ratio | per repetition | median |")
    print("|---|---|---|---|")
    for shape in shapes:
        for a, b in pairs:
            ra, rb = per_rep(rows, shape, a), per_rep(rows, shape, b)
            reps = sorted(set(ra) & set(rb))
            cpu = [ra[i]["server_cpu_s_per_million"] / rb[i]["server_cpu_s_per_million"] for i in reps
                   if ra[i].get("server_cpu_s_per_million") and rb[i].get("server_cpu_s_per_million")]
            rate = [ra[i]["delivered_per_s"] / rb[i]["delivered_per_s"] for i in reps if rb[i]["delivered_per_s"]]
            p50 = [(ra[i]["latency_us"]["p50"] - rb[i]["latency_us"]["p50"]) / 1000 for i in reps]
            for name, vals, spec, unit in [
                (f"CPU/M {a} ÷ {b}", cpu, ".2f", "×"),
                (f"delivered/s {a} ÷ {b}", rate, ".2f", "×"),
                (f"p50 {a} − {b}", p50, "+.2f", " ms"),
            ]:
                if vals:
                    each = ", ".join(format(v, spec) + unit for v in vals)
                    print(f"| {shape} | {name} | {each} | {format(statistics.median(vals), spec)}{unit} |")

    redis_rows = [r for r in rows if r["config"] in ("one", "two") and r["sent"]]
    if redis_rows:
        print("\nRedis per relayed message, over the measured phase (banter-bench --redis: INFO commandstats "
              "when counting starts and ends; messages = those sent meanwhile):\n")
        print("| shape | config | XADD per message | Redis commands per message | XADD/s "
              "| redis CPU share | XADDs per redis CPU-second |")
        print("|---|---|---|---|---|---|---|")
        for shape in shapes:
            for c in ("one", "two"):
                rs = [r for r in redis_rows if r["shape"] == shape and r["config"] == c]
                if not rs:
                    continue
                xpm, cpm, rate, share, per_cpu = [], [], [], [], []
                for r in rs:
                    if r.get("redis"):
                        m = r["redis"]
                        xadds, xpm_r, cpm_r = m["xadd"], m["xadd_per_message"], m["commands_per_message"]
                    else:  # an older bench: counts over the whole run, set-up included
                        receivers = r["expected"] / r["sent"]
                        xpm_r, cpm_r = r["xadd"] / r["sent"], r["redis_calls"] / r["sent"]
                        xadds = r["delivered"] / receivers * xpm_r
                    xpm.append(xpm_r)
                    cpm.append(cpm_r)
                    rate.append(xadds / r["duration_secs"])
                    cpu = cpu_of(r, "redis-server")
                    if cpu:
                        share.append(cpu / r["duration_secs"])
                        per_cpu.append(xadds / cpu)
                sh = med(share)
                print(f"| {shape} | {c} | {fmt(med(xpm), '.3f')} | {fmt(med(cpm), '.2f')} | {fmt(med(rate), ',.0f')} "
                      f"| {fmt(sh if sh is None else 100 * sh, '.1f')} % | {fmt(med(per_cpu), ',.0f')} |")

if __name__ == "__main__":
    main(sys.argv[1])
