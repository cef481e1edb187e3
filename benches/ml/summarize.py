"""Markdown tables from benches/ml/run.sh output: best p50 per engine over the
repetitions (the least disturbed by background load)."""

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

print("| threads | tokens | Candle p50 ms | PyTorch p50 ms | Candle/PyTorch |")
print("| ---: | ---: | ---: | ---: | ---: |")
for (kind, threads, _, tokens), e in sorted(best.items()):
    if kind == "latency" and "candle" in e and "torch" in e:
        c, t = e["candle"]["p50_ms"], e["torch"]["p50_ms"]
        print(f"| {threads} | {tokens} | {c:.1f} | {t:.1f} | {c / t:.2f} |")
print()
print("| threads | batch × tokens | Candle seg/s | PyTorch seg/s |")
print("| ---: | ---: | ---: | ---: |")
for (kind, threads, batch, tokens), e in sorted(best.items()):
    if kind == "throughput" and "candle" in e and "torch" in e:
        print(f"| {threads} | {batch} × {tokens} | {e['candle']['segments_per_s']:.1f} | {e['torch']['segments_per_s']:.1f} |")
print()
print("| threads | segment tokens (128-token windows, overlap 32) | Candle worker `score` p50 ms |")
print("| ---: | ---: | ---: |")
for (kind, threads, _, tokens), e in sorted(best.items()):
    if kind == "score_windowed" and "candle" in e:
        print(f"| {threads} | {tokens} | {e['candle']['p50_ms']:.1f} |")
