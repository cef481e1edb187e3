"""PyTorch side of benches/ml/run.sh: the same measurements as
detector-worker/examples/candle_bench.rs on the same weights and token ids.

    models/.venv-train/bin/python benches/ml/torch_bench.py THREADS [MODEL_DIR]
"""

import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification

threads = int(sys.argv[1])
model_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "models" / "default"
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
attn = getattr(model.config, "_attn_implementation", "default")


def window(length, offset=0):
    return [101] + [1000 + (7 * (i + offset)) % 20000 for i in range(length - 2)] + [102]


def time_ms(runs, fn):
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return samples


def pct(samples, p):
    return samples[round((len(samples) - 1) * p)]


def forward(batch):
    ids = torch.tensor(batch)
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


for length in (64, 128, 256, 512):
    batch = [window(length)]
    s = time_ms(30 if length >= 256 else 60, lambda: forward(batch))
    print(json.dumps({"engine": "torch", "kind": "latency", "threads": str(threads), "attn": attn,
                      "tokens": length, "p50_ms": round(pct(s, 0.5), 3), "p90_ms": round(pct(s, 0.9), 3)}))
for batch_size, length in ((1, 64), (8, 64), (32, 64), (8, 128), (32, 128)):
    batch = [window(length, b) for b in range(batch_size)]
    s = time_ms(10, lambda: forward(batch))
    p50 = pct(s, 0.5)
    print(json.dumps({"engine": "torch", "kind": "throughput", "threads": str(threads), "attn": attn,
                      "batch": batch_size, "tokens": length, "p50_ms": round(p50, 3),
                      "segments_per_s": round(batch_size * 1000.0 / p50, 1)}))
