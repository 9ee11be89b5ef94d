#!/usr/bin/env python3
"""Median tables and ours/peer ratios for run_hl7_parse.sh and run_mllp.sh (stdlib only).

  compare.py gbench FILE.json --rep N   Google Benchmark JSON -> one JSON line per benchmark,
                                        in the peers' format (bench, lib, mode, msgs_per_s, ...)
  compare.py hl7 RESULTS.jsonl          median table of parse runs + ratios (markdown)
  compare.py mllp RESULTS.jsonl         median table of MLLP runs + ratios (markdown)
  compare.py durable RESULTS.jsonl      run_durable.sh: per mode and C, the half-rate runs, ratios
  compare.py canonical RESULTS.jsonl    run_canonical.sh: per mode and C, ratios to the journal-only
                                        baseline
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def gbench(args):
    with open(args.file) as f:
        doc = json.load(f)
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = b["name"].split("/real_time")[0]
        parts = name.split("/")  # hl7/<mode>/<subset>
        row = {"rep": args.rep, "bench": "hl7_parse", "lib": "hims", "mode": parts[1],
               "subset": parts[2] if len(parts) > 2 else "all"}
        if b.get("error_occurred"):
            row["failed"] = b.get("error_message", "error")
        else:
            row.update({
                "msgs_per_s": round(b["items_per_second"]),
                "mb_per_s": round(b["bytes_per_second"] / 1e6, 2),
                "ms_per_pass": round(b["real_time"], 3),
                "iterations": b["iterations"],
                "checksum": int(b.get("checksum", 0)),
            })
        print(json.dumps(row))


def hl7(args):
    rows = [r for r in load(args.file) if r.get("bench") == "hl7_parse" and "failed" not in r]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["lib"], r["mode"], r.get("subset", "all"))].append(r)
    medians = {}
    print("| lib | mode | subset | runs | msgs/s (median) | MB/s (median) | MB/s min–max | checksum |")
    print("|---|---|---|---:|---:|---:|---|---:|")
    order = {"tokenize": 0, "parse": 1, "touch": 2, "full": 3, "full_indexed": 4, "full_decode": 5}
    for key in sorted(groups, key=lambda k: (k[0] != "hims", k[0], k[2] != "all", k[2],
                                             order.get(k[1], 9))):
        g = groups[key]
        m = med([r["msgs_per_s"] for r in g])
        mb = med([r["mb_per_s"] for r in g])
        medians[key] = m
        sums = sorted({r.get("checksum") for r in g})
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(g)} | {fmt(m)} | {fmt(mb, 1)} | "
              f"{fmt(min(r['mb_per_s'] for r in g), 1)}–{fmt(max(r['mb_per_s'] for r in g), 1)} | "
              f"{', '.join(str(s) for s in sums)} |")
    print()
    print("| ours / peer (msgs/s medians) | " + " | ".join(
        p for p in sorted({k[0] for k in groups if k[0] != "hims"})) + " |")
    peers = sorted({k[0] for k in groups if k[0] != "hims"})
    print("|---|" + "---:|" * len(peers))
    for ours, theirs in (("touch", "touch"), ("full", "full"), ("full_decode", "full"),
                         ("tokenize", "touch")):
        o = medians.get(("hims", ours, "all"))
        cells = []
        for p in peers:
            t = medians.get((p, theirs, "all"))
            cells.append(f"{o / t:,.1f}×" if o and t else "–")
        print(f"| hims {ours} vs peer {theirs} | " + " | ".join(cells) + " |")


def mllp(args):
    rows = [r for r in load(args.file) if r.get("bench") == "mllp"]
    groups = defaultdict(list)
    for r in rows:
        groups[(r.get("server", r.get("label")), r.get("client", "?"), r["conns"])].append(r)
    medians = {}
    print("| server | client | C | runs | msgs/s (median) | min–max | MB/s | p50 ms | p99 ms "
          "| max ms | bad ACKs | errors | server RSS MB |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(groups, key=lambda k: (k[0] != "hims", k[0], k[1], k[2])):
        g = groups[key]
        m = med([r["msgs_per_s"] for r in g])
        medians[key] = m
        rss = med([r.get("server_rss_kb") for r in g])
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(g)} | {fmt(m)} | "
              f"{fmt(min(r['msgs_per_s'] for r in g))}–{fmt(max(r['msgs_per_s'] for r in g))} | "
              f"{fmt(med([r['mb_per_s'] for r in g]), 1)} | {fmt(med([r['p50_ms'] for r in g]), 3)} | "
              f"{fmt(med([r['p99_ms'] for r in g]), 3)} | {fmt(med([r['max_ms'] for r in g]), 2)} | "
              f"{sum(r.get('bad_acks', 0) for r in g)} | "
              f"{sum(r.get('socket_errors', 0) + r.get('closed_by_server', 0) for r in g)} | "
              f"{fmt(rss / 1024 if rss else None, 0)} |")
    print()
    servers = sorted({k[0] for k in groups if k[0] != "hims"})
    clients = sorted({k[1] for k in groups})
    conns = sorted({k[2] for k in groups})
    print("| ours / peer (msgs/s medians) | client | " + " | ".join(f"C={c}" for c in conns) + " |")
    print("|---|---|" + "---:|" * len(conns))
    for s in servers:
        for cl in clients:
            cells = []
            for c in conns:
                o, t = medians.get(("hims", cl, c)), medians.get((s, cl, c))
                cells.append(f"{o / t:,.1f}×" if o and t else "–")
            print(f"| hims / {s} | {cl} | " + " | ".join(cells) + " |")


def durable(args):
    rows = [r for r in load(args.file) if r.get("bench") == "mllp"]
    fails = [r for r in load(args.file) if "failed" in r]
    order = {"sqlite": 0, "postgres": 1, "pass": 2, "peer": 3}
    closed = defaultdict(list)
    half = defaultdict(list)
    for r in rows:
        (half if "@" in r["mode"] else closed)[(r["mode"].split("@")[0], r["conns"])].append(r)

    def mcol(g, key, digits=0):
        return fmt(med([r.get(key) for r in g]), digits)

    def span(g, key):  # min–max of a recorded value, or – when no run has it
        v = [r.get(key) for r in g if r.get(key) is not None]
        return f"{min(v):g}–{max(v):g}" if v else "–"

    print("| mode | store | C | runs | msgs/s (median) | min–max | p50 ms | p99 ms | max ms "
          "| server CPU % | journaled/s | delivered/s | queue at end | bad ACKs | errors "
          "| RSS MB | load avg | CPU / I/O pressure % |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    medians = {}
    for key in sorted(closed, key=lambda k: (order.get(k[0], 9), k[0], k[1])):
        g = closed[key]
        m = med([r["msgs_per_s"] for r in g])
        medians[key] = m
        rss = med([r.get("server_rss_kb") for r in g])
        print(f"| {key[0]} | {g[0].get('store', '–')} | {key[1]} | {len(g)} | {fmt(m)} | "
              f"{fmt(min(r['msgs_per_s'] for r in g))}–{fmt(max(r['msgs_per_s'] for r in g))} | "
              f"{mcol(g, 'p50_ms', 3)} | {mcol(g, 'p99_ms', 3)} | {mcol(g, 'max_ms', 2)} | "
              f"{mcol(g, 'server_cpu_pct')} | {mcol(g, 'journaled_per_s')} | "
              f"{mcol(g, 'delivered_per_s')} | {mcol(g, 'queue_depth_end')} | "
              f"{sum(r.get('bad_acks', 0) for r in g)} | "
              f"{sum(r.get('socket_errors', 0) + r.get('closed_by_server', 0) for r in g)} | "
              f"{fmt(rss / 1024 if rss else None, 0)} | "
              f"{span(g, 'loadavg')} | "
              f"{span(g, 'psi_cpu')} / {span(g, 'psi_io')} |")
    if half:
        print()
        print("| mode | C | runs | paced at msgs/s | achieved msgs/s | p50 ms | p99 ms | p99.9 ms "
              "| max ms | late sends | server CPU % | commits > 10 ms | inline checkpoint ms "
              "| bad ACKs | CPU / I/O pressure % |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
        for key in sorted(half, key=lambda k: (order.get(k[0], 9), k[1])):
            g = half[key]
            print(f"| {key[0]} | {key[1]} | {len(g)} | {mcol(g, 'rate')} | {mcol(g, 'msgs_per_s')} | "
                  f"{mcol(g, 'p50_ms', 3)} | {mcol(g, 'p99_ms', 3)} | {mcol(g, 'p999_ms', 3)} | "
                  f"{mcol(g, 'max_ms', 2)} | {mcol(g, 'late_sends')} | "
                  f"{mcol(g, 'server_cpu_pct')} | {span(g, 'commits_over_10ms')} | "
                  f"{mcol(g, 'inline_checkpoint_ms', 2)} | {sum(r.get('bad_acks', 0) for r in g)} | "
                  f"{span(g, 'psi_cpu')} / {span(g, 'psi_io')} |")
        # Run by run: the ACK tail beside the disk's own (fsync_probe in the same window).
        print()
        print("| half-rate run | p99 ms | max ms | late sends | commits > 10 ms | disk p99 ms "
              "| disk max ms | disk syncs > 10 ms (summed ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for key in sorted(half, key=lambda k: (order.get(k[0], 9), k[1])):
            for r in half[key]:
                stalls = r.get("disk_stalls")
                disk = "–" if stalls is None else f"{stalls} ({fmt(r.get('disk_stalled_ms'), 0)})"
                print(f"| {key[0]} C={key[1]} rep {r.get('rep', '?')} | {fmt(r.get('p99_ms'), 1)} | "
                      f"{fmt(r.get('max_ms'), 1)} | {fmt(r.get('late_sends'))} | "
                      f"{fmt(r.get('commits_over_10ms'))} | {fmt(r.get('disk_p99_ms'), 2)} | "
                      f"{fmt(r.get('disk_max_ms'), 1)} | "
                      f"{disk} |")
    conns = sorted({k[1] for k in closed})
    ours = [m for m in ("sqlite", "postgres", "pass") if any(k[0] == m for k in closed)]
    if any(k[0] == "peer" for k in closed) and ours:
        print()
        print("| ours / simple-hl7 (msgs/s medians) | " + " | ".join(f"C={c}" for c in conns) + " |")
        print("|---|" + "---:|" * len(conns))
        for o in ours:
            cells = []
            for c in conns:
                a, b = medians.get((o, c)), medians.get(("peer", c))
                cells.append(f"{a / b:,.2f}×" if a and b else "–")
            print(f"| hims {o} | " + " | ".join(cells) + " |")
    if fails:
        print()
        for f in fails:
            print(f"- failed: {json.dumps(f)}")


def canonical(args):
    rows = [r for r in load(args.file) if "msgs_per_s" in r]
    fails = [r for r in load(args.file) if "failed" in r]
    order = {"journal": 0, "sqlite": 1, "postgres": 2}
    groups = defaultdict(list)
    for r in rows:
        groups[(r["mode"], r["conns"])].append(r)

    def mcol(g, key, digits=0):
        return fmt(med([r.get(key) for r in g]), digits)

    print("| mode | C | runs | msgs/s (median) | min–max | p50 ms | p99 ms | canonical rows/s "
          "| server CPU % | bad ACKs | errors | load avg |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    medians = {}
    for key in sorted(groups, key=lambda k: (order.get(k[0], 9), k[1])):
        g = groups[key]
        medians[key] = med([r["msgs_per_s"] for r in g])
        loads = [str(r.get("loadavg")) for r in g if r.get("loadavg") is not None]
        print(f"| {key[0]} | {key[1]} | {len(g)} | {fmt(medians[key])} | "
              f"{fmt(min(r['msgs_per_s'] for r in g))}–{fmt(max(r['msgs_per_s'] for r in g))} | "
              f"{mcol(g, 'p50_ms', 3)} | {mcol(g, 'p99_ms', 3)} | "
              f"{mcol(g, 'canonical_rows_per_s')} | {mcol(g, 'server_cpu_pct')} | "
              f"{sum(r.get('bad_acks', 0) for r in g)} | "
              f"{sum(r.get('socket_errors', 0) + r.get('closed_by_server', 0) for r in g)} | "
              f"{min(loads) if loads else '–'}–{max(loads) if loads else '–'} |")
    print()
    for (mode, c), m in sorted(medians.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        base = medians.get(("journal", c))
        if mode != "journal" and base and m:
            print(f"- {mode} / journal only, C={c}: {m / base:.3f}×")
    for f in fails:
        print(f"- failed: {json.dumps(f)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gbench")
    g.add_argument("file")
    g.add_argument("--rep", type=int, default=1)
    sub.add_parser("hl7").add_argument("file")
    sub.add_parser("mllp").add_argument("file")
    sub.add_parser("durable").add_argument("file")
    sub.add_parser("canonical").add_argument("file")
    args = ap.parse_args()
    {"gbench": gbench, "hl7": hl7, "mllp": mllp, "durable": durable,
     "canonical": canonical}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
