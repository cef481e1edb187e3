"""Markdown tables from benches/ml/run.sh output: best p50 per engine over the
repetitions (the least disturbed by background load). With a
CANDLE_BASELINE run, the baseline build's figures get their own columns."""

import json
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
best = defaultdict(dict)
for r in rows:
    key = (r["kind"], r["threads"], r.get("batch", 1), r["tokens"])
    prev = best[key].get(r["engine"])
    if prev is None or r["p50_ms"] < prev["p50_ms"]:
        best[key][r["engine"]] = r
baseline = any("candle-baseline" in e for e in best.values())


def cells(e, field, fmt):
    """Baseline (when run), Candle and PyTorch values of `field`."""
    engines = (["candle-baseline"] if baseline else []) + ["candle", "torch"]
    return [fmt.format(e[name][field]) if name in e else "" for name in engines]


def header(first, unit, names=("Candle", "PyTorch")):
    names = (["Candle baseline"] if baseline else []) + list(names)
    return first + [f"{n} {unit}" for n in names]


def table(head, lines):
    print("| " + " | ".join(head) + " |")
    print("|" + " ---: |" * len(head))
    for line in lines:
        print("| " + " | ".join(line) + " |")
    print()


latency = [
    [threads, str(tokens)] + cells(e, "p50_ms", "{:.1f}")
    + [f"{e['candle']['p50_ms'] / e['torch']['p50_ms']:.2f}"]
    for (kind, threads, _, tokens), e in sorted(best.items())
    if kind == "latency" and "candle" in e and "torch" in e
]
table(header(["threads", "tokens"], "p50 ms") + ["Candle/PyTorch"], latency)
throughput = [
    [threads, f"{batch} × {tokens}"] + cells(e, "segments_per_s", "{:.1f}")
    for (kind, threads, batch, tokens), e in sorted(best.items())
    if kind == "throughput" and "candle" in e and "torch" in e
]
table(header(["threads", "batch × tokens"], "seg/s"), throughput)
windowed = [
    [threads, str(tokens)] + cells(e, "p50_ms", "{:.1f}")[:-1]
    for (kind, threads, _, tokens), e in sorted(best.items())
    if kind == "score_windowed" and "candle" in e
]
table(
    header(
        ["threads", "segment tokens (128-token windows, overlap 32)"],
        "`score` p50 ms",
        ("Candle",),
    ),
    windowed,
)
